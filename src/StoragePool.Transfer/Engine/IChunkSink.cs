using StoragePool.Transfer.Chunks;

namespace StoragePool.Transfer.Engine;

/// <summary>What a transfer moves: told to the receiver before the first chunk.</summary>
/// <param name="TransferId">the same id when a job is resumed: the receiver picks up its journal.</param>
/// <param name="Source">where the bytes come from (<c>pool/volume</c> or <c>pool/volume@snap</c>), for logs and headers.</param>
/// <param name="Incremental">the receiver hashes what the target already holds, and only differing chunks are sent.</param>
/// <param name="Overwrite">an existing target may be replaced.</param>
/// <param name="DataBytes">bytes the source has allocated: the most the target will need.</param>
public sealed record TransferManifest(
    string TransferId, string Source, long VolumeSize, int ChunkSize, bool Incremental, bool Overwrite, long DataBytes);

/// <summary>What the receiver already holds: the checksum of every chunk that does not read as zeros.</summary>
/// <param name="Resumed">a journal of an earlier run of this transfer was found.</param>
public sealed record SinkState(IReadOnlyDictionary<long, ChunkChecksum> Known, bool Resumed);

/// <summary>The receiver's account at the end.</summary>
/// <param name="BytesWritten">data bytes written (zero runs are holes, not writes).</param>
/// <param name="AllocatedBytes">what the target occupies now.</param>
public sealed record SinkResult(long BytesWritten, long AllocatedBytes, ChunkChecksum Digest);

/// <summary>
/// Where a transfer's chunks go: another daemon over HTTP, or a stream file. Sends may run concurrently
/// (one per stream); <see cref="BeginAsync"/> comes first and <see cref="CompleteAsync"/> last.
/// </summary>
public interface IChunkSink : IAsyncDisposable
{
    Task<SinkState> BeginAsync(TransferManifest manifest, CancellationToken ct);

    /// <summary>
    /// Delivers one chunk. Throws <see cref="Core.Errors.StoragePoolException"/> with
    /// <see cref="Core.Errors.ErrorCode.ChecksumMismatch"/> when the receiver found it damaged (nothing was written).
    /// </summary>
    Task SendAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct);

    /// <summary>Makes everything durable and compares the whole-volume digest; throws ChecksumMismatch when they differ.</summary>
    Task<SinkResult> CompleteAsync(ChunkChecksum digest, CancellationToken ct);
}
