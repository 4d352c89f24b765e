using System.CommandLine;
using StoragePool.Api;
using StoragePool.Core.Errors;

namespace StoragePool.Cli;

/// <summary>
/// The global options that say which daemon to talk to: <c>--socket</c> (or <c>STORAGEPOOL_SOCKET</c>),
/// <c>--url</c> for a remote daemon, and <c>--token</c> (or <c>STORAGEPOOL_TOKEN</c>, or the token file the
/// daemon writes beside its socket).
/// </summary>
internal sealed class ConnectionOptions
{
    private readonly Option<string?> _socket = new("--socket")
    {
        Description = $"The daemon's API socket [default: ${DefaultPaths.SocketEnvironmentVariable} or {DefaultPaths.ApiSocket}]",
        HelpName = "PATH",
        Recursive = true,
    };

    private readonly Option<string?> _url = new("--url")
    {
        Description = "Talk to a remote daemon over TCP instead of the socket, e.g. http://10.0.0.2:7100",
        HelpName = "URL",
        Recursive = true,
    };

    private readonly Option<string?> _token = new("--token")
    {
        Description = $"The API token [default: ${DefaultPaths.TokenEnvironmentVariable}, "
            + $"or the {DefaultPaths.TokenFileName} file beside the socket]",
        HelpName = "TOKEN",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Add(_socket);
        root.Add(_url);
        root.Add(_token);
    }

    /// <summary>Whether the command talks to a daemon on this machine (so local paths mean the same to it).</summary>
    public bool IsLocal(ParseResult result) => result.GetValue(_url) is null;

    public async Task<StoragePoolClient> ConnectAsync(ParseResult result, CancellationToken ct)
    {
        var url = result.GetValue(_url);
        var socket = result.GetValue(_socket);
        var token = NonEmpty(result.GetValue(_token))
            ?? NonEmpty(Environment.GetEnvironmentVariable(DefaultPaths.TokenEnvironmentVariable));
        if (url is not null)
        {
            if (socket is not null)
            {
                throw new StoragePoolException(ErrorCode.InvalidArgument,
                    "--socket and --url both say where the daemon is; give only one of them");
            }
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new StoragePoolException(ErrorCode.InvalidArgument,
                    $"--url '{url}' is not an http:// or https:// address; write it like http://10.0.0.2:7100");
            }
            return StoragePoolClient.ForUrl(uri, token);
        }
        socket ??= NonEmpty(Environment.GetEnvironmentVariable(DefaultPaths.SocketEnvironmentVariable)) ?? DefaultPaths.ApiSocket;
        return StoragePoolClient.ForUnixSocket(socket, token ?? await ReadTokenFileAsync(socket, ct));
    }

    /// <summary>The token the daemon left beside its socket, if this user may read it.</summary>
    private static async Task<string?> ReadTokenFileAsync(string socket, CancellationToken ct)
    {
        try
        {
            return NonEmpty((await File.ReadAllTextAsync(DefaultPaths.TokenFileFor(socket), ct)).Trim());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
