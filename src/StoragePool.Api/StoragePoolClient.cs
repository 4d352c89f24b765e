using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Serialization.Metadata;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;

namespace StoragePool.Api;

/// <summary>
/// The REST API's client: the CLI uses it, and so will daemons calling each other.
/// Errors come back as <see cref="StoragePoolException"/> with the server's code and sentence.
/// </summary>
public sealed class StoragePoolClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _where;
    private readonly string? _socketPath;
    private readonly bool _peer;

    private StoragePoolClient(HttpClient http, string where, string? socketPath, bool peer)
    {
        _http = http;
        _where = where;
        _socketPath = socketPath;
        _peer = peer;
    }

    /// <summary>A client for the daemon listening on a unix socket.</summary>
    public static StoragePoolClient ForUnixSocket(string socketPath, string? token) =>
        Create(UnixSocketHandler(socketPath), new Uri("http://localhost"), token, $"the daemon's socket {socketPath}", socketPath);

    /// <summary>An HTTP handler whose every connection is to the unix socket at <paramref name="socketPath"/>.</summary>
    public static SocketsHttpHandler UnixSocketHandler(string socketPath) => new()
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <summary>A client for a daemon's TCP address, e.g. <c>http://10.0.0.2:7100</c>.</summary>
    public static StoragePoolClient ForUrl(Uri url, string? token) =>
        Create(new SocketsHttpHandler(), url, token, url.ToString(), null);

    /// <summary>
    /// A daemon's client for another daemon (transfers): one connection per concurrent call, and an unreachable
    /// peer is <see cref="ErrorCode.PeerUnavailable"/>.
    /// </summary>
    /// <param name="caFile">PEM CA the peer's certificate must chain to (https); null: the system's trust store.</param>
    public static StoragePoolClient ForPeer(Uri url, string? token, string? caFile = null)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        if (caFile is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = PeerCertificates.Validator(caFile);
        }
        return Create(handler, url, token, url.ToString(), null, peer: true);
    }

    private static StoragePoolClient Create(HttpMessageHandler handler, Uri baseAddress, string? token, string where, string? socketPath, bool peer = false)
    {
        var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(30) };
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return new StoragePoolClient(http, where, socketPath, peer);
    }

    public void Dispose() => _http.Dispose();

    public Task<StatusInfo> GetStatusAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Status, null, ApiJsonContext.Default.StatusInfo, ct);

    public Task<IReadOnlyList<StoreInfo>> ListStoresAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Stores, null, ApiJsonContext.Default.IReadOnlyListStoreInfo, ct);

    public Task<StoreInfo> AddStoreAsync(AddStoreRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.Stores, JsonContent.Create(request, ApiJsonContext.Default.AddStoreRequest),
            ApiJsonContext.Default.StoreInfo, ct);

    public Task RemoveStoreAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, ApiRoutes.Store(name), null, ct);

    public Task<IReadOnlyList<PoolInfo>> ListPoolsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Pools, null, ApiJsonContext.Default.IReadOnlyListPoolInfo, ct);

    public Task<PoolInfo> GetPoolAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Pool(name), null, ApiJsonContext.Default.PoolInfo, ct);

    public Task<PoolInfo> CreatePoolAsync(CreatePoolRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.Pools, JsonContent.Create(request, ApiJsonContext.Default.CreatePoolRequest),
            ApiJsonContext.Default.PoolInfo, ct);

    public Task DeletePoolAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, ApiRoutes.Pool(name), null, ct);

    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(string? pool, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, pool is null ? ApiRoutes.Volumes : ApiRoutes.PoolVolumes(pool), null,
            ApiJsonContext.Default.IReadOnlyListVolumeInfo, ct);

    public Task<VolumeInfo> GetVolumeAsync(VolumeRef volume, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Volume(volume.Pool, volume.Name), null, ApiJsonContext.Default.VolumeInfo, ct);

    public Task<VolumeChange> CreateVolumeAsync(VolumeRef volume, long sizeBytes, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.PoolVolumes(volume.Pool),
            JsonContent.Create(new CreateVolumeRequest(volume.Name, sizeBytes), ApiJsonContext.Default.CreateVolumeRequest),
            ApiJsonContext.Default.VolumeChange, ct);

    public Task<VolumeChange> ResizeVolumeAsync(VolumeRef volume, long sizeBytes, bool allowShrink, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.VolumeResize(volume.Pool, volume.Name),
            JsonContent.Create(new ResizeVolumeRequest(sizeBytes, allowShrink), ApiJsonContext.Default.ResizeVolumeRequest),
            ApiJsonContext.Default.VolumeChange, ct);

    /// <param name="force">disconnect the volume's clients first instead of being refused.</param>
    public Task DeleteVolumeAsync(VolumeRef volume, bool withSnapshots, bool force = false, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete,
            $"{ApiRoutes.Volume(volume.Pool, volume.Name)}?with_snapshots={(withSnapshots ? "true" : "false")}&force={(force ? "true" : "false")}", null, ct);

    public Task<VolumeInfo> CloneVolumeAsync(SnapshotRef source, VolumeRef target, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.VolumeClone(source.Pool, source.Volume),
            JsonContent.Create(new CloneVolumeRequest(source.Name, target.Pool, target.Name), ApiJsonContext.Default.CloneVolumeRequest),
            ApiJsonContext.Default.VolumeInfo, ct);

    public Task<VolumeInfo> RevertVolumeAsync(SnapshotRef snapshot, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.VolumeRevert(snapshot.Pool, snapshot.Volume),
            JsonContent.Create(new RevertVolumeRequest(snapshot.Name), ApiJsonContext.Default.RevertVolumeRequest),
            ApiJsonContext.Default.VolumeInfo, ct);

    public Task<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(VolumeRef volume, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Snapshots(volume.Pool, volume.Name), null,
            ApiJsonContext.Default.IReadOnlyListSnapshotInfo, ct);

    public Task<SnapshotInfo> CreateSnapshotAsync(SnapshotRef snapshot, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.Snapshots(snapshot.Pool, snapshot.Volume),
            JsonContent.Create(new CreateSnapshotRequest(snapshot.Name), ApiJsonContext.Default.CreateSnapshotRequest),
            ApiJsonContext.Default.SnapshotInfo, ct);

    public Task DeleteSnapshotAsync(SnapshotRef snapshot, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, ApiRoutes.Snapshot(snapshot.Pool, snapshot.Volume, snapshot.Name), null, ct);

    /// <summary>How to reach <c>pool/volume</c> or <c>pool/volume@snap</c> over NBD.</summary>
    public Task<LibvirtXml> GetPoolLibvirtXmlAsync(string pool, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.PoolLibvirtXml(pool), null, ApiJsonContext.Default.LibvirtXml, ct);

    /// <param name="source"><c>nbd</c> (the NBD unix socket) or <c>file</c> (the FUSE file, as a libvirt pool volume).</param>
    public Task<LibvirtXml> GetDiskXmlAsync(VolumeRef volume, string source, string target, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"{ApiRoutes.VolumeDiskXml(volume.Pool, volume.Name)}?source={Uri.EscapeDataString(source)}&target={Uri.EscapeDataString(target)}",
            null, ApiJsonContext.Default.LibvirtXml, ct);

    public Task<ExportInfo> GetExportAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Export(name), null, ApiJsonContext.Default.ExportInfo, ct);

    public Task<JobInfo> StartJobAsync(StartJobRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.Jobs, JsonContent.Create(request, ApiJsonContext.Default.StartJobRequest), ApiJsonContext.Default.JobInfo, ct);

    public Task<IReadOnlyList<JobInfo>> ListJobsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, ApiRoutes.Jobs, null, ApiJsonContext.Default.IReadOnlyListJobInfo, ct);

    /// <param name="wait">while the job runs, let the daemon wait up to this long for its end before it answers.</param>
    public Task<JobInfo> GetJobAsync(string id, TimeSpan? wait = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, wait is { } w ? $"{ApiRoutes.Job(id)}?wait_ms={(int)w.TotalMilliseconds}" : ApiRoutes.Job(id),
            null, ApiJsonContext.Default.JobInfo, ct);

    public Task<JobInfo> CancelJobAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.JobCancel(id), null, ApiJsonContext.Default.JobInfo, ct);

    public Task<JobInfo> ResumeJobAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.JobResume(id), null, ApiJsonContext.Default.JobInfo, ct);

    public Task<TransferSession> BeginTransferAsync(BeginTransferRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.Transfers, JsonContent.Create(request, ApiJsonContext.Default.BeginTransferRequest), ApiJsonContext.Default.TransferSession, ct);

    /// <summary>The receiver's known chunks: 24-byte entries, chunk index (u64, big-endian) and checksum (16 bytes).</summary>
    public async Task<byte[]> GetTransferKnownAsync(string id, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, ApiRoutes.TransferKnown(id), null, ct);
        return await response.Content.ReadAsByteArrayAsync(ct);
    }

    public Task<TransferCompletion> CompleteTransferAsync(string id, CompleteTransferRequest request, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, ApiRoutes.TransferComplete(id), JsonContent.Create(request, ApiJsonContext.Default.CompleteTransferRequest), ApiJsonContext.Default.TransferCompletion, ct);

    public Task AbortTransferAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, ApiRoutes.Transfer(id), null, ct);

    /// <summary>The Prometheus text of <c>/metrics</c>.</summary>
    public async Task<string> GetMetricsAsync(CancellationToken ct = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, ApiRoutes.Metrics, null, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var response = await SendRawAsync(method, path, content, ct);
        return await response.Content.ReadFromJsonAsync(type, ct)
            ?? throw new StoragePoolException(ErrorCode.Internal, $"{_where} answered {path} with an empty body");
    }

    private async Task SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var response = await SendRawAsync(method, path, content, ct);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e) when (_peer)
        {
            var hint = _where.StartsWith("http://", StringComparison.Ordinal) && e.HttpRequestError == HttpRequestError.ResponseEnded
                ? " (a daemon run with --tls-cert answers only https://)"
                : string.Empty;
            throw new StoragePoolException(ErrorCode.PeerUnavailable,
                $"cannot reach the storagepoold at {_where}: {e.InnerException?.Message ?? e.Message}{hint}", e);
        }
        catch (HttpRequestException e)
        {
            var reason = _socketPath is not null && !File.Exists(_socketPath)
                ? "there is no socket there"
                : e.InnerException?.Message ?? e.Message;
            throw new StoragePoolException(ErrorCode.DaemonUnavailable,
                $"cannot reach storagepoold at {_where}: {reason}; " +
                "is the daemon running? Start it with 'storagepoold' (or 'systemctl start storagepoold'), " +
                $"or point the CLI elsewhere with --socket, {DefaultPaths.SocketEnvironmentVariable} or --url", e);
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            throw await ToExceptionAsync(response, ct);
        }
    }

    private static async Task<StoragePoolException> ToExceptionAsync(HttpResponseMessage response, CancellationToken ct)
    {
        Problem? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            try
            {
                problem = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.Problem, ct);
            }
            catch (System.Text.Json.JsonException)
            {
                // fall through: report the status
            }
        }
        if (problem is not null && ErrorCodes.TryParseId(problem.Code, out var code))
        {
            return new StoragePoolException(code, problem.Detail);
        }
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => new StoragePoolException(ErrorCode.Unauthorized,
                $"the daemon refused the token; pass the right one with --token or {DefaultPaths.TokenEnvironmentVariable}"),
            _ => new StoragePoolException(ErrorCode.Internal,
                $"the daemon answered {(int)response.StatusCode} {response.ReasonPhrase}"),
        };
    }
}
