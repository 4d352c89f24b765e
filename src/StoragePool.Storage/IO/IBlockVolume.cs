namespace StoragePool.Storage.IO;

/// <summary>
/// An open volume (or read-only snapshot) as a block device: the one I/O core every consumer
/// (NBD, FUSE, transfers) goes through. Safe for many concurrent requests. Every request that
/// changes data (write, trim, write-zeroes) passes <see cref="WritePath"/> before it is acknowledged.
/// Offsets and lengths are bytes; anything past <see cref="Size"/> is refused with
/// <see cref="Core.Errors.ErrorCode.InvalidArgument"/>; a write to a read-only volume with
/// <see cref="Core.Errors.ErrorCode.PermissionDenied"/>.
/// </summary>
public interface IBlockVolume
{
    /// <summary><c>pool/volume</c> or <c>pool/volume@snapshot</c>.</summary>
    string Name { get; }

    /// <summary>The size now: a resize while open is seen at once (NBD clients keep the size of their handshake).</summary>
    long Size { get; }

    bool ReadOnly { get; }

    /// <summary>Fires when the volume is taken away (deleted with force, daemon stopping): consumers disconnect.</summary>
    CancellationToken Revoked { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads the range only if that needs no waiting (the file store: the page cache holds all of it), so that a
    /// thread that must never block, a socket's event thread, can answer a read itself. False when it cannot (the
    /// buffer's content is then undefined): read with <see cref="ReadAsync"/>.
    /// </summary>
    bool TryReadCached(long offset, Span<byte> buffer);

    /// <summary>
    /// Where the range's bytes lie in a file whose pages the page cache holds, so that a socket can be handed them
    /// there (sendfile) instead of having them copied into a buffer and out again. False when they are not all cached
    /// or the store keeps them elsewhere: read with <see cref="ReadAsync"/>. Bytes sent this way are the file's as the
    /// socket takes them; a write that runs at the same time as the read may show in it, as on any disk.
    /// </summary>
    bool TryGetCachedFileRange(long offset, int length, out FileRange range);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteOptions options, CancellationToken cancellationToken = default);

    /// <summary>Makes every acknowledged write durable, whichever connection made it.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Discards a range: it reads back as zeros and its space is freed (punched).</summary>
    ValueTask TrimAsync(long offset, long length, WriteOptions options, CancellationToken cancellationToken = default);

    /// <summary>Writes zeros: a hole unless <see cref="WriteOptions.NoHole"/>; with <see cref="WriteOptions.FastZero"/>
    /// fails with <see cref="Core.Errors.ErrorCode.Unsupported"/> rather than write zeros slowly.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, WriteOptions options, CancellationToken cancellationToken = default);

    /// <summary>
    /// A hint: start reading [offset, offset+length) into the cache, and return before it is there (NBD_CMD_CACHE;
    /// transfers read ahead with it).
    /// </summary>
    ValueTask PrefetchAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>The allocation status of [offset, offset+length), as consecutive runs covering at least the start.</summary>
    ValueTask<IReadOnlyList<BlockStatus>> GetBlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default);
}

[Flags]
public enum WriteOptions
{
    None = 0,

    /// <summary>Force unit access: durable before acknowledged.</summary>
    Fua = 1,

    /// <summary>Write-zeroes must allocate (no hole).</summary>
    NoHole = 2,

    /// <summary>Write-zeroes must be fast (a hole or nothing) or fail.</summary>
    FastZero = 4,

    /// <summary>
    /// Bulk data nobody will read back soon (a transfer filling a volume): bypass the host's page cache where the
    /// store can (O_DIRECT on the file store, for 4 KiB-aligned offset, length and buffer), so a large copy neither evicts the cache that running VMs use nor pays for
    /// copying every byte into it. Other writes with it are written as usual.
    /// </summary>
    Uncached = 8,
}

/// <summary>
/// <paramref name="Length"/> bytes at <paramref name="Offset"/> of <paramref name="File"/>, a read-only view of a
/// volume's file that its volume owns: never dispose it.
/// </summary>
public readonly record struct FileRange(FileStream File, long Offset, int Length);

/// <summary>A run of blocks: <see cref="Hole"/> when unallocated, <see cref="Zero"/> when it reads as zeros.</summary>
public readonly record struct BlockStatus(long Offset, long Length, bool Hole, bool Zero);

/// <summary>What a write does: the seam where the replication log and QoS will stand.</summary>
public enum WriteKind
{
    Write,
    Trim,
    WriteZeroes,
}

/// <summary>One data-changing request, as every write stage sees it.</summary>
public readonly record struct WriteRequest(string Volume, WriteKind Kind, long Offset, long Length, WriteOptions Options);

/// <summary>
/// A stage every data-changing request passes before it is applied and acknowledged, in order:
/// QoS token buckets will wait here, the replication log will append here.
/// </summary>
public interface IWriteStage
{
    ValueTask BeforeWriteAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}
