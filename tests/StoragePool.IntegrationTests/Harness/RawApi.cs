using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using StoragePool.Api;
using StoragePool.Core.Errors;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>What the daemon answered a raw request: status, body, and the problem's code when it sent one.</summary>
public sealed record RawAnswer(HttpStatusCode Status, string ContentType, string Body)
{
    /// <summary>The problem document's <c>code</c>; null when the body is not a problem.</summary>
    public string? Code
    {
        get
        {
            try
            {
                using var document = JsonDocument.Parse(Body);
                return document.RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    public override string ToString() => $"{(int)Status} {ContentType} {Body}";
}

/// <summary>
/// Sends requests as they are written, whatever they hold, to a daemon's REST API on its unix socket, with its token:
/// what a careless script or a hostile local user would send, which the typed client never does.
/// </summary>
public sealed class RawApi : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _socketPath;
    private readonly string _token;

    public RawApi(DaemonProcess daemon)
    {
        _socketPath = daemon.ApiSocket;
        _token = daemon.Token;
        _http = new HttpClient(StoragePoolClient.UnixSocketHandler(_socketPath))
        {
            BaseAddress = new Uri("http://localhost"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", daemon.Token);
    }

    public async Task<RawAnswer> SendAsync(string method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await _http.SendAsync(request);
        return new RawAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType ?? "",
            await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Sends a request's head announcing a body of <paramref name="contentLength"/> bytes, and none of the body, over a
    /// socket of its own (an HTTP client gives up on a server that answers before it has sent all it announced).
    /// </summary>
    public async Task<RawAnswer> SendHeadersOnlyAsync(string method, string path, long contentLength)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath));
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var head = $"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {_token}\r\n" +
            $"Content-Type: application/json\r\nContent-Length: {contentLength}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var status = await reader.ReadLineAsync(limit.Token) ?? "";
        var contentType = "";
        var chunked = false;
        while (await reader.ReadLineAsync(limit.Token) is { Length: > 0 } header)
        {
            if (header.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))
            {
                contentType = header["Content-Type:".Length..].Trim().Split(';')[0];
            }
            chunked |= header.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        }
        var body = new StringBuilder();
        if (!chunked)
        {
            body.Append(await reader.ReadToEndAsync(limit.Token));
        }
        // chunked: a hex size line, that many characters (the bodies here are ASCII), an empty line; size 0 ends it
        while (chunked && await reader.ReadLineAsync(limit.Token) is { } sizeLine
            && int.Parse(sizeLine.Split(';')[0], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) is > 0 and var size)
        {
            var chunk = new char[size];
            await reader.ReadBlockAsync(chunk, limit.Token);
            body.Append(chunk);
            await reader.ReadLineAsync(limit.Token);
        }
        return new RawAnswer((HttpStatusCode)int.Parse(status.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), contentType,
            body.ToString());
    }

    /// <summary>Checks that the answer is a problem document with a documented code whose status it has.</summary>
    public static void AssertProblem(RawAnswer answer, params ErrorCode[] expected)
    {
        Assert.That(answer.ContentType, Is.EqualTo("application/problem+json"), answer.ToString());
        Assert.That(ErrorCodes.TryParseId(answer.Code ?? "", out var code), Is.True, $"a documented code: {answer}");
        Assert.That((int)answer.Status, Is.EqualTo(code.HttpStatus()), $"the status of {code}: {answer}");
        if (expected.Length > 0)
        {
            Assert.That(expected, Does.Contain(code), answer.ToString());
        }
    }

    public void Dispose() => _http.Dispose();
}
