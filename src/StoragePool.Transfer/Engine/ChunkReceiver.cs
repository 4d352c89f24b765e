using System.Buffers;
using System.Diagnostics;
using StoragePool.Core.Errors;
using StoragePool.Storage.IO;
using StoragePool.Transfer.Chunks;

namespace StoragePool.Transfer.Engine;

/// <summary>
/// Writes arriving chunks into a volume: each is decompressed and checked against its checksum before anything is
/// written; only non-zero runs (4 KiB blocks) are written, zero runs stay holes (or are punched when the target
/// may already hold data there). Written chunks go to the journal in groups, after the volume is flushed. Every
/// write passes the volume's write path like any other. Safe for concurrent chunks.
/// </summary>
public sealed class ChunkReceiver : IAsyncDisposable
{
    private const int Block = 4096;
    private static readonly TimeSpan CommitEvery = TimeSpan.FromMilliseconds(250);
    private const int CommitChunks = 32;

    private readonly IBlockVolume _target;
    private readonly ReceiveJournal _journal;
    private readonly bool _targetMayHoldData;
    private readonly Dictionary<long, ChunkChecksum> _known;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _commit = new(1, 1);
    private List<(long, ChunkChecksum)> _pending = [];
    private long _lastCommit = Stopwatch.GetTimestamp();
    private long _bytesWritten;
    private Task _committing = Task.CompletedTask;

    /// <param name="baseline">checksums of what the target holds (an --incremental scan); the journal's entries override them.</param>
    /// <param name="targetMayHoldData">the target is not a fresh, empty volume (overwrite, incremental, or a resumed run):
    /// zero runs must be punched, not skipped.</param>
    public ChunkReceiver(IBlockVolume target, ChunkLayout layout, ReceiveJournal journal,
        IReadOnlyDictionary<long, ChunkChecksum>? baseline, bool targetMayHoldData)
    {
        _target = target;
        Layout = layout;
        _journal = journal;
        _targetMayHoldData = targetMayHoldData || journal.Entries.Count > 0;
        _known = baseline is null ? [] : new Dictionary<long, ChunkChecksum>(baseline);
        foreach (var (index, checksum) in journal.Entries)
        {
            if (checksum == ChunkChecksum.OfZeros(layout.LengthOf(index)))
            {
                _known.Remove(index); // a zero record: the chunk is a hole
            }
            else
            {
                _known[index] = checksum;
            }
        }
    }

    public ChunkLayout Layout { get; }

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Chunks that do not read as zeros, with their checksums: what a sender need not send again.</summary>
    public IReadOnlyDictionary<long, ChunkChecksum> Known
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<long, ChunkChecksum>(_known);
            }
        }
    }

    /// <summary>Checksums of every chunk of <paramref name="volume"/> that holds non-zero data (reads allocated ranges only).</summary>
    public static async Task<Dictionary<long, ChunkChecksum>> ScanAsync(IBlockVolume volume, ChunkLayout layout, int parallelism, CancellationToken ct)
    {
        var map = await UsedBlockMap.ReadAsync(volume, ct);
        var chunks = map.ChunksWithData(layout).ToList();
        var result = new Dictionary<long, ChunkChecksum>();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (index, token) =>
        {
            var length = layout.LengthOf(index);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                await volume.ReadAsync(layout.OffsetOf(index), buffer.AsMemory(0, length), token);
                var span = buffer.AsSpan(0, length);
                if (span.ContainsAnyExcept((byte)0))
                {
                    var checksum = ChunkChecksum.Of(span);
                    lock (result)
                    {
                        result[index] = checksum;
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });
        return result;
    }

    /// <summary>Verifies and writes one chunk. A damaged chunk throws ChecksumMismatch and writes nothing.</summary>
    public async Task ReceiveAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        record.Validate(Layout);
        if (payload.Length != record.PayloadLength)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"chunk {record.Index} came with {payload.Length} payload bytes; its header says {record.PayloadLength}");
        }
        var offset = Layout.OffsetOf(record.Index);
        byte[]? unpacked = null;
        try
        {
            ReadOnlyMemory<byte> data;
            switch (record.Kind)
            {
                case ChunkKind.Zero:
                    if (record.Checksum != ChunkChecksum.OfZeros(record.Length))
                    {
                        throw Damaged(record, "a zero record with the checksum of other data");
                    }
                    if (_targetMayHoldData)
                    {
                        await _target.WriteZeroesAsync(offset, record.Length, WriteOptions.None, ct);
                    }
                    await WrittenAsync(record, ct);
                    return;
                case ChunkKind.Zstd:
                    unpacked = ArrayPool<byte>.Shared.Rent(record.Length);
                    Zstd.Decompress(payload.Span, unpacked.AsSpan(0, record.Length));
                    data = unpacked.AsMemory(0, record.Length);
                    break;
                default:
                    data = payload;
                    break;
            }
            var actual = ChunkChecksum.Of(data.Span);
            if (actual != record.Checksum)
            {
                throw Damaged(record, $"its bytes hash to {actual}, its header says {record.Checksum}");
            }
            await WriteSparseAsync(offset, data, ct);
            await WrittenAsync(record, ct);
        }
        finally
        {
            if (unpacked is not null)
            {
                ArrayPool<byte>.Shared.Return(unpacked);
            }
        }
    }

    /// <summary>Flushes, journals the rest, and compares the digest over every chunk's checksum with the sender's.</summary>
    public async Task<ChunkChecksum> CompleteAsync(ChunkChecksum senderDigest, CancellationToken ct)
    {
        await _committing;
        await CommitAsync(force: true, ct);
        var checksums = new ChunkChecksum[Layout.Count];
        lock (_lock)
        {
            for (var i = 0; i < checksums.Length; i++)
            {
                checksums[i] = _known.TryGetValue(i, out var c) ? c : ChunkChecksum.OfZeros(Layout.LengthOf(i));
            }
        }
        var digest = ChunkChecksum.Digest(checksums);
        if (digest != senderDigest)
        {
            throw new StoragePoolException(ErrorCode.ChecksumMismatch,
                $"the copy's digest {digest} differs from the source's {senderDigest}: the target does not hold what was sent");
        }
        return digest;
    }

    /// <summary>Journals what was written (so a sender that begins again need not resend it) and closes the journal.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _committing;
            await CommitAsync(force: true, CancellationToken.None);
        }
        catch (Exception e) when (e is StoragePoolException or IOException or ObjectDisposedException)
        {
            // a volume taken away or a failing disk: those chunks are simply sent again
        }
        _journal.Dispose();
        _commit.Dispose();
    }

    private async Task WriteSparseAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var at = 0;
        while (at < data.Length)
        {
            // a run of non-zero blocks, then a run of zero blocks
            var start = at;
            while (at < data.Length && !IsZeroBlock(data.Span, at))
            {
                at += Math.Min(Block, data.Length - at);
            }
            if (at > start)
            {
                await _target.WriteAsync(offset + start, data[start..at], WriteOptions.Uncached, ct);
                Interlocked.Add(ref _bytesWritten, at - start);
            }
            start = at;
            while (at < data.Length && IsZeroBlock(data.Span, at))
            {
                at += Math.Min(Block, data.Length - at);
            }
            if (at > start && _targetMayHoldData)
            {
                await _target.WriteZeroesAsync(offset + start, at - start, WriteOptions.None, ct);
            }
        }
    }

    private static bool IsZeroBlock(ReadOnlySpan<byte> data, int at) =>
        !data.Slice(at, Math.Min(Block, data.Length - at)).ContainsAnyExcept((byte)0);

    private async Task WrittenAsync(ChunkRecord record, CancellationToken ct)
    {
        lock (_lock)
        {
            if (record.Kind == ChunkKind.Zero)
            {
                _known.Remove(record.Index);
            }
            else
            {
                _known[record.Index] = record.Checksum;
            }
            _pending.Add((record.Index, record.Checksum));
            if (_pending.Count < CommitChunks && Stopwatch.GetElapsedTime(_lastCommit) < CommitEvery)
            {
                return;
            }
        }
        // a group is due: commit it in the background, so that no chunk waits for the disk (a failed commit
        // fails the next chunk, and the transfer's completion)
        Task previous;
        lock (_lock)
        {
            previous = _committing;
            if (previous.IsCompleted && !previous.IsFaulted)
            {
                _committing = Task.Run(() => CommitAsync(force: false, CancellationToken.None), CancellationToken.None);
            }
        }
        if (previous.IsFaulted)
        {
            await previous;
        }
    }

    /// <summary>Group commit: flush the volume, then journal what that flush made durable. One at a time.</summary>
    private async Task CommitAsync(bool force, CancellationToken ct)
    {
        await _commit.WaitAsync(ct);
        try
        {
            List<(long, ChunkChecksum)> batch;
            lock (_lock)
            {
                batch = _pending;
                _pending = [];
                _lastCommit = Stopwatch.GetTimestamp();
            }
            if (batch.Count == 0 && !force)
            {
                return;
            }
            await _target.FlushAsync(ct);
            if (batch.Count > 0)
            {
                _journal.Append(batch);
            }
        }
        finally
        {
            _commit.Release();
        }
    }

    private static StoragePoolException Damaged(ChunkRecord record, string why) =>
        new(ErrorCode.ChecksumMismatch, $"chunk {record.Index} arrived damaged: {why}");
}
