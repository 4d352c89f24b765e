using StoragePool.Storage.IO;

namespace StoragePool.Testing;

/// <summary>
/// A real volume with a hook in front of every call, for what a healthy file system will not do on demand:
/// fail with a given error, be slow at one offset (to force out-of-order replies), block the calling thread as a
/// stuck disk does, count calls in flight.
/// The data still goes to the real volume behind it.
/// </summary>
public sealed class HookedVolume(IBlockVolume inner, Func<VolumeCall, ValueTask> hook) : IBlockVolume
{
    private int _inFlight;
    private int _maxInFlight;
    private int _cachedReads;
    private int _fileRanges;

    public string Name => inner.Name;

    public long Size => inner.Size;

    public bool ReadOnly => inner.ReadOnly;

    public CancellationToken Revoked => inner.Revoked;

    /// <summary>The most calls that were running at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("read", offset, buffer.Length, WriteOptions.None));
        await inner.ReadAsync(offset, buffer, cancellationToken);
    }

    /// <summary>
    /// Whether <see cref="TryReadCached"/> asks the real volume (counting the reads it answers in
    /// <see cref="CachedReads"/>, without the hook). By default it says no, and every read goes through the hook.
    /// </summary>
    public bool ReadsCached { get; init; }

    /// <summary>The reads <see cref="TryReadCached"/> answered.</summary>
    public int CachedReads => Volatile.Read(ref _cachedReads);

    public bool TryReadCached(long offset, Span<byte> buffer)
    {
        if (!ReadsCached || !inner.TryReadCached(offset, buffer))
        {
            return false;
        }
        Interlocked.Increment(ref _cachedReads);
        return true;
    }

    /// <summary>
    /// Whether <see cref="TryGetCachedFileRange"/> asks the real volume (counting the ranges it gives in
    /// <see cref="FileRanges"/>, without the hook). By default it says no.
    /// </summary>
    public bool GivesFileRanges { get; init; }

    /// <summary>The ranges <see cref="TryGetCachedFileRange"/> gave.</summary>
    public int FileRanges => Volatile.Read(ref _fileRanges);

    public bool TryGetCachedFileRange(long offset, int length, out FileRange range)
    {
        range = default;
        if (!GivesFileRanges || !inner.TryGetCachedFileRange(offset, length, out range))
        {
            return false;
        }
        Interlocked.Increment(ref _fileRanges);
        return true;
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteOptions options, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("write", offset, data.Length, options));
        await inner.WriteAsync(offset, data, options, cancellationToken);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("flush", 0, 0, WriteOptions.None));
        await inner.FlushAsync(cancellationToken);
    }

    public async ValueTask TrimAsync(long offset, long length, WriteOptions options, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("trim", offset, length, options));
        await inner.TrimAsync(offset, length, options, cancellationToken);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteOptions options, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("zero", offset, length, options));
        await inner.WriteZeroesAsync(offset, length, options, cancellationToken);
    }

    public async ValueTask PrefetchAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("prefetch", offset, length, WriteOptions.None));
        await inner.PrefetchAsync(offset, length, cancellationToken);
    }

    public async ValueTask<IReadOnlyList<BlockStatus>> GetBlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        using var _ = await Enter(new VolumeCall("status", offset, length, WriteOptions.None));
        return await inner.GetBlockStatusAsync(offset, length, cancellationToken);
    }

    private async ValueTask<Exit> Enter(VolumeCall call)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen)
        {
        }
        try
        {
            await hook(call);
        }
        catch
        {
            Interlocked.Decrement(ref _inFlight);
            throw;
        }
        return new Exit(this);
    }

    private readonly struct Exit(HookedVolume volume) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref volume._inFlight);
    }
}

public readonly record struct VolumeCall(string Operation, long Offset, long Length, WriteOptions Options);
