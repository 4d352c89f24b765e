using Microsoft.AspNetCore.Routing.Template;

namespace StoragePool.Daemon.Rest;

/// <summary>
/// Which HTTP methods the API's routes take at a path, so that a request with the wrong method is answered 405 with
/// <c>Allow</c> rather than "no route" (the catch-all fallback would otherwise take it).
/// </summary>
internal sealed class RouteMethods(EndpointDataSource endpoints)
{
    private readonly Lazy<List<(TemplateMatcher Matcher, IReadOnlyList<string> Methods)>> _routes = new(() =>
        endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<HttpMethodMetadata>() is not null && e.RoutePattern.RawText is not null)
            .Select(e => (new TemplateMatcher(TemplateParser.Parse(e.RoutePattern.RawText!), new RouteValueDictionary()),
                e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods))
            .ToList());

    /// <summary>The methods some route takes at <paramref name="path"/>; empty when no route has that path.</summary>
    public IReadOnlyList<string> AllowedFor(PathString path) =>
        [.. _routes.Value.Where(r => r.Matcher.TryMatch(path, new RouteValueDictionary())).SelectMany(r => r.Methods).Distinct().Order(StringComparer.Ordinal)];
}
