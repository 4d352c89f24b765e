using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Threading;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Tcp;

/// <summary>
/// Sends a transfer to another daemon (protocol in this project's README.md): begin, known chunks and complete go
/// through its REST API; chunks go through its data channel, one TCP connection per concurrent send, each chunk a
/// header and its payload answered by an acknowledgement. Every call carries the daemons' shared token.
/// <para>
/// Every method returns on the thread pool, never on a socket's <see cref="EventThread"/>: callers go on to read disks.
/// </para>
/// </summary>
public sealed class PeerChunkSink : IChunkSink
{
    private readonly StoragePoolClient _peer;
    private readonly Uri _url;
    private readonly string? _token;
    private readonly string _target;
    private readonly string? _caFile;
    private bool _dataTls;
    private readonly ConcurrentBag<Connection> _idle = [];
    private readonly List<Connection> _all = [];
    private string? _id;
    private int _dataPort;

    /// <param name="caFile">PEM CA the peer's certificate must chain to when it speaks TLS; null: the system's trust store.</param>
    public PeerChunkSink(Uri peer, string? token, string target, string? caFile = null)
    {
        _peer = StoragePoolClient.ForPeer(peer, token, caFile);
        _caFile = caFile;
        _url = peer;
        _token = token;
        _target = target;
    }

    public async Task<SinkState> BeginAsync(TransferManifest manifest, CancellationToken ct)
    {
        await using var _ = new ReturnOnPool();
        _id = manifest.TransferId;
        var session = await _peer.BeginTransferAsync(new BeginTransferRequest(manifest.TransferId, manifest.Source, _target,
            manifest.VolumeSize, manifest.ChunkSize, manifest.Incremental, manifest.Overwrite, manifest.DataBytes), ct);
        _dataPort = session.DataPort;
        _dataTls = session.DataTls;
        if (_dataPort == 0)
        {
            throw new StoragePoolException(ErrorCode.Unsupported,
                $"the storagepoold at {_url} has no transfer data channel (it needs --listen, or --transfer-listen)");
        }
        var known = new Dictionary<long, ChunkChecksum>();
        if (session.KnownChunks > 0)
        {
            var bytes = await _peer.GetTransferKnownAsync(manifest.TransferId, ct);
            for (var at = 0; at + KnownEntrySize <= bytes.Length; at += KnownEntrySize)
            {
                known[BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(at))] = ChunkChecksum.Read(bytes.AsSpan(at + 8));
            }
        }
        return new SinkState(known, session.Start == "resumed");
    }

    public async Task SendAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await using var _ = new ReturnOnPool();
        var connection = _idle.TryTake(out var c) ? c : await ConnectAsync(ct);
        try
        {
            record.WriteTo(connection.Header);
            await connection.Stream.WriteAsync(connection.Header, ct);
            await connection.Stream.WriteAsync(payload, ct);
            await DataChannel.ReadAckAsync(connection.Stream, record.Index, connection.Scratch, ct);
        }
        catch (StoragePoolException e) when (e.Code == ErrorCode.ChecksumMismatch)
        {
            _idle.Add(connection); // the receiver answered; the connection is still good
            throw;
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException)
        {
            throw new StoragePoolException(ErrorCode.PeerUnavailable,
                $"the connection to the storagepoold at {_url.Host}:{_dataPort} broke while sending chunk {record.Index}: {e.Message}", e);
        }
        _idle.Add(connection);
    }

    public async Task<SinkResult> CompleteAsync(ChunkChecksum digest, CancellationToken ct)
    {
        await using var _ = new ReturnOnPool();
        var done = await _peer.CompleteTransferAsync(_id!, new CompleteTransferRequest(digest.ToString()), ct);
        return new SinkResult(done.BytesWritten, done.AllocatedBytes, ChunkChecksum.Parse(done.Digest));
    }

    /// <summary>Tells the receiver to drop the transfer (a cancelled job).</summary>
    public async Task AbortAsync(string transferId, CancellationToken ct)
    {
        await using var _ = new ReturnOnPool();
        await _peer.AbortTransferAsync(transferId, ct);
    }

    public async ValueTask DisposeAsync()
    {
        _peer.Dispose();
        foreach (var connection in _all)
        {
            await connection.Stream.DisposeAsync();
        }
    }

    private async Task<Connection> ConnectAsync(CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_url.Host, _dataPort, ct);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new StoragePoolException(ErrorCode.PeerUnavailable,
                $"cannot reach the transfer data channel of the storagepoold at {_url.Host}:{_dataPort}: {e.Message}", e);
        }
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (_dataTls)
        {
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            stream = tls;
            try
            {
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = _url.Host,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    RemoteCertificateValidationCallback = _caFile is null ? null : PeerCertificates.Validator(_caFile),
                }, ct);
            }
            catch (AuthenticationException e)
            {
                await tls.DisposeAsync();
                throw new StoragePoolException(ErrorCode.PeerUnavailable,
                    $"the transfer data channel of {_url.Host}:{_dataPort} failed the TLS handshake: {e.Message}" +
                    (_caFile is null ? " (give the daemon --tls-ca with the CA that signed the peer's certificate)" : string.Empty), e);
            }
        }
        var connection = new Connection(stream);
        lock (_all)
        {
            _all.Add(connection);
        }
        await connection.Stream.WriteAsync(DataChannel.EncodeHello(_token ?? string.Empty, _id!), ct);
        await DataChannel.ReadAckAsync(connection.Stream, -1, connection.Scratch, ct);
        return connection;
    }

    /// <summary>Bytes of one entry of <c>GET /v1/transfers/{id}/known</c>.</summary>
    public const int KnownEntrySize = 8 + ChunkChecksum.Size;

    public static byte[] EncodeKnown(IReadOnlyDictionary<long, ChunkChecksum> known)
    {
        var bytes = new byte[known.Count * KnownEntrySize];
        var at = 0;
        foreach (var (index, checksum) in known.OrderBy(k => k.Key))
        {
            BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(at), index);
            checksum.WriteTo(bytes.AsSpan(at + 8));
            at += KnownEntrySize;
        }
        return bytes;
    }

    /// <summary>
    /// Disposed as a method ends (returning or throwing): moves the rest of the caller to the thread pool. Found by
    /// <c>await using</c> as a pattern, not through IAsyncDisposable, whose ValueTask would wrap the hop in a second
    /// async method and lose it (see <see cref="EventThread.LeaveAsync"/>).
    /// </summary>
    private readonly struct ReturnOnPool
    {
        [SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "await using looks for an instance method")]
        public EventThread.PoolAwaitable DisposeAsync() => EventThread.LeaveAsync();
    }

    private sealed class Connection(Stream stream)
    {
        public Stream Stream { get; } = stream;

        public byte[] Header { get; } = new byte[ChunkRecord.HeaderSize];

        public byte[] Scratch { get; } = new byte[DataChannel.AckHeaderSize];
    }
}
