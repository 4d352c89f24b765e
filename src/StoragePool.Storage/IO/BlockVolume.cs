using System.Runtime.CompilerServices;
using StoragePool.Core.Errors;
using StoragePool.Core.Threading;

namespace StoragePool.Storage.IO;

/// <summary>
/// What a store's <c>OpenVolume</c>/<c>OpenSnapshot</c> returns: an <see cref="IBlockVolume"/> that owns its file
/// descriptor. Whoever opened it disposes it (once every request on it has finished); requests after that fail
/// with <see cref="ObjectDisposedException"/>.
/// <para>
/// This class holds the rules every store shares, so a store cannot get them wrong: ranges are checked against
/// <see cref="Size"/>, a read-only volume refuses changes, and every data-changing request passes the volume's
/// <see cref="WritePath"/> — exactly once, after those checks and before the store sees it — in
/// <see cref="ApplyAsync"/>, the only way a store is asked to change data. Errors are in the returned task.
/// </para>
/// </summary>
public abstract class BlockVolume : IBlockVolume, IAsyncDisposable, IDisposable
{
    private readonly WritePath _writes;
    private long _size;

    protected BlockVolume(string name, long size, bool readOnly, WritePath writes, CancellationToken revoked)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentNullException.ThrowIfNull(writes);
        Name = name;
        _size = size;
        ReadOnly = readOnly;
        _writes = writes;
        Revoked = revoked;
    }

    public string Name { get; }

    public long Size => Volatile.Read(ref _size);

    /// <summary>
    /// Called by whoever resized the volume in its store while it is open: requests are checked against the new
    /// size from now on. NBD clients keep the size they were told at the handshake; a file (FUSE) sees it at once.
    /// </summary>
    public void Resized(long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        Volatile.Write(ref _size, size);
    }

    public bool ReadOnly { get; }

    public CancellationToken Revoked { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EventThread.AssertNotOn("a volume read");
        if (RangeError("read", offset, buffer.Length) is { } error)
        {
            return ValueTask.FromException(error);
        }
        return buffer.IsEmpty ? ValueTask.CompletedTask : ReadCoreAsync(offset, buffer, cancellationToken);
    }

    public bool TryReadCached(long offset, Span<byte> buffer) =>
        RangeError("read", offset, buffer.Length) is null && (buffer.IsEmpty || TryReadCachedCore(offset, buffer));

    public bool TryGetCachedFileRange(long offset, int length, out FileRange range)
    {
        range = default;
        return length > 0 && RangeError("read", offset, length) is null && TryGetCachedFileRangeCore(offset, length, out range);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteOptions options,
        CancellationToken cancellationToken = default) =>
        SubmitAsync(new WriteRequest(Name, WriteKind.Write, offset, data.Length, options), data, cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        EventThread.AssertNotOn("a volume flush");
        return ReadOnly ? ValueTask.CompletedTask : FlushCoreAsync(cancellationToken);
    }

    public ValueTask TrimAsync(long offset, long length, WriteOptions options, CancellationToken cancellationToken = default) =>
        SubmitAsync(new WriteRequest(Name, WriteKind.Trim, offset, length, options), ReadOnlyMemory<byte>.Empty,
            cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteOptions options,
        CancellationToken cancellationToken = default) =>
        SubmitAsync(new WriteRequest(Name, WriteKind.WriteZeroes, offset, length, options), ReadOnlyMemory<byte>.Empty,
            cancellationToken);

    public ValueTask PrefetchAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        EventThread.AssertNotOn("a volume prefetch");
        if (RangeError("prefetch", offset, length) is { } error)
        {
            return ValueTask.FromException(error);
        }
        return length == 0 ? ValueTask.CompletedTask : PrefetchCoreAsync(offset, length, cancellationToken);
    }

    public ValueTask<IReadOnlyList<BlockStatus>> GetBlockStatusAsync(long offset, long length,
        CancellationToken cancellationToken = default)
    {
        EventThread.AssertNotOn("a volume's block status");
        if (RangeError("map", offset, length) is { } error)
        {
            return ValueTask.FromException<IReadOnlyList<BlockStatus>>(error);
        }
        if (length == 0)
        {
            return ValueTask.FromResult<IReadOnlyList<BlockStatus>>([]);
        }
        return GetBlockStatusCoreAsync(offset, length, cancellationToken);
    }

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    public ValueTask DisposeAsync()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>'s length; the range is inside <see cref="Size"/> and not empty.</summary>
    protected abstract ValueTask ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>The range, already checked and not empty, if it can be read without waiting.</summary>
    protected abstract bool TryReadCachedCore(long offset, Span<byte> buffer);

    /// <summary>The file range of a checked, non-empty range, if the page cache holds all of it.</summary>
    protected abstract bool TryGetCachedFileRangeCore(long offset, int length, out FileRange range);

    /// <summary>
    /// Applies a request that has been checked and has passed the <see cref="WritePath"/>: the only way data changes.
    /// <paramref name="data"/> is the bytes of a <see cref="WriteKind.Write"/>, empty otherwise. Honours
    /// <see cref="WriteOptions"/> (durable before returning with <see cref="WriteOptions.Fua"/>).
    /// </summary>
    protected abstract ValueTask ApplyAsync(WriteRequest request, ReadOnlyMemory<byte> data,
        CancellationToken cancellationToken);

    /// <summary>Makes every write made so far durable; only called on a writable volume.</summary>
    protected abstract ValueTask FlushCoreAsync(CancellationToken cancellationToken);

    /// <summary>Starts reading a checked, non-empty range into the cache.</summary>
    protected abstract ValueTask PrefetchCoreAsync(long offset, long length, CancellationToken cancellationToken);

    /// <summary>The status of a non-empty range inside <see cref="Size"/>: consecutive runs from <paramref name="offset"/>.</summary>
    protected abstract ValueTask<IReadOnlyList<BlockStatus>> GetBlockStatusCoreAsync(long offset, long length,
        CancellationToken cancellationToken);

    /// <summary>Releases the store's resources (the file descriptor).</summary>
    protected abstract void Dispose(bool disposing);

    /// <summary>Checks, then the write path, then the store: a refused request never reaches a stage.</summary>
    private ValueTask SubmitAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        EventThread.AssertNotOn("a volume write");
        if (WriteError(request) is { } error)
        {
            return ValueTask.FromException(error);
        }
        var passing = _writes.RunAsync(request, data, cancellationToken);
        if (passing.IsCompletedSuccessfully)
        {
            passing.GetAwaiter().GetResult(); // an empty path, or stages that did not wait: no state machine
            return ApplyAsync(request, data, cancellationToken);
        }
        return PassThenApplyAsync(passing, request, data, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask PassThenApplyAsync(ValueTask passing, WriteRequest request, ReadOnlyMemory<byte> data,
        CancellationToken cancellationToken)
    {
        await passing;
        await ApplyAsync(request, data, cancellationToken);
    }

    private StoragePoolException? WriteError(WriteRequest request)
    {
        var verb = request.Kind switch
        {
            WriteKind.Write => "write",
            WriteKind.Trim => "trim",
            _ => "zero",
        };
        if (ReadOnly)
        {
            return new StoragePoolException(ErrorCode.PermissionDenied,
                $"cannot {verb} {request.Length} bytes at offset {request.Offset} of '{Name}': it is read-only " +
                "(a snapshot); write to a volume, or clone the snapshot into a new volume and write to that");
        }
        return RangeError(verb, request.Offset, request.Length);
    }

    private StoragePoolException? RangeError(string verb, long offset, long length)
    {
        if (offset >= 0 && length >= 0 && offset <= Size - length)
        {
            return null;
        }
        return new StoragePoolException(ErrorCode.InvalidArgument,
            $"cannot {verb} {length} bytes at offset {offset} of '{Name}': it is {Size} bytes; " +
            "give a non-negative offset and length whose range ends inside the volume");
    }
}
