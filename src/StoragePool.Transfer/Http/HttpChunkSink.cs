using System.Buffers.Binary;
using StoragePool.Api;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Http;

/// <summary>
/// Sends chunks to another daemon's REST API (the protocol is in this project's README.md): one HTTP/1.1 PUT per
/// chunk, as many connections as streams, the same bearer token as any call.
/// </summary>
public sealed class HttpChunkSink : IChunkSink
{
    private readonly StoragePoolClient _peer;
    private readonly string _target;
    private string? _id;

    public HttpChunkSink(Uri peer, string? token, string target)
    {
        _peer = StoragePoolClient.ForPeer(peer, token);
        _target = target;
    }

    public async Task<SinkState> BeginAsync(TransferManifest manifest, CancellationToken ct)
    {
        _id = manifest.TransferId;
        var session = await _peer.BeginTransferAsync(new BeginTransferRequest(manifest.TransferId, manifest.Source, _target,
            manifest.VolumeSize, manifest.ChunkSize, manifest.Incremental, manifest.Overwrite, manifest.DataBytes), ct);
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

    public Task SendAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct) =>
        _peer.PutTransferChunkAsync(_id!, record.Index, record.Kind.ToString().ToLowerInvariant(), record.Length,
            record.Checksum.ToString(), payload, ct);

    public async Task<SinkResult> CompleteAsync(ChunkChecksum digest, CancellationToken ct)
    {
        var done = await _peer.CompleteTransferAsync(_id!, new CompleteTransferRequest(digest.ToString()), ct);
        return new SinkResult(done.BytesWritten, done.AllocatedBytes, ChunkChecksum.Parse(done.Digest));
    }

    /// <summary>Tells the receiver to drop the transfer (a cancelled job).</summary>
    public Task AbortAsync(string transferId, CancellationToken ct) => _peer.AbortTransferAsync(transferId, ct);

    public ValueTask DisposeAsync()
    {
        _peer.Dispose();
        return ValueTask.CompletedTask;
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
}
