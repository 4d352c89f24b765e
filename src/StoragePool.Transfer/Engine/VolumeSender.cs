using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using StoragePool.Core.Errors;
using StoragePool.Core.Extents;
using StoragePool.Storage.IO;
using StoragePool.Transfer.Chunks;

namespace StoragePool.Transfer.Engine;

/// <summary>
/// Sends a volume (or snapshot) to a sink: the used-block map says which chunks hold data; those are read
/// (allocated ranges only), checked for zeros, checksummed and compressed by <c>Streams</c> preparers, and sent by
/// as many senders, so reading, hashing, compressing and sending overlap. A chunk whose checksum equals what the
/// receiver already holds (resume, --incremental) is not sent; a zero chunk goes as a zero record. A chunk the
/// receiver finds damaged is read and sent once more; twice damaged fails the transfer. The end is a whole-volume
/// digest over every chunk's checksum, which the receiver compares with its own.
/// </summary>
public sealed class VolumeSender
{
    private readonly IBlockVolume _source;
    private readonly IChunkSink _sink;
    private readonly TransferSettings _settings;
    private readonly TransferProgress _progress;
    private readonly ChunkLayout _layout;
    private readonly CompressionPolicy _policy;
    private UsedBlockMap? _map;
    private SinkState? _state;
    private ChunkChecksum[]? _checksums;

    /// <param name="localPeer">the receiver runs on this host (compression <c>auto</c> never pays then).</param>
    public VolumeSender(IBlockVolume source, IChunkSink sink, TransferSettings settings, TransferProgress progress, bool localPeer)
    {
        if (settings.Streams is < 1 or > TransferSettings.MaxStreams)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"{settings.Streams} streams is not allowed: use 1 to {TransferSettings.MaxStreams}");
        }
        _source = source;
        _sink = sink;
        _settings = settings;
        _progress = progress;
        _layout = ChunkLayout.Create(source.Size, settings.ChunkSize);
        var cap = settings.Limiters is { Count: > 0 } limiters ? limiters.Min(l => l.BytesPerSecond) : (double?)null;
        _policy = new CompressionPolicy(settings.Compression, localPeer, cap);
    }

    public async Task<TransferResult> RunAsync(string transferId, bool incremental, bool overwrite, CancellationToken ct)
    {
        _map = await UsedBlockMap.ReadAsync(_source, ct);
        _state = await _sink.BeginAsync(
            new TransferManifest(transferId, _source.Name, _source.Size, _layout.ChunkSize, incremental, overwrite, _map.DataBytes), ct);
        _checksums = new ChunkChecksum[_layout.Count];
        var work = ChunksToVisit();
        _progress.SetTotal(work.Sum(c => c.Weight));

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var prepared = Channel.CreateBounded<Prepared>(new BoundedChannelOptions(_settings.Streams)
        {
            SingleWriter = false,
            SingleReader = false,
        });
        var queue = new ChunkQueue(work);
        // each loop starts on the thread pool: started here, the first preparer would read chunks until the queue is
        // full before the next loop even began
        var preparers = Enumerable.Range(0, _settings.Streams).Select(_ => Task.Run(() => PrepareLoopAsync(queue, prepared.Writer, failed))).ToArray();
        var senders = Enumerable.Range(0, _settings.Streams).Select(_ => Task.Run(() => SendLoopAsync(prepared.Reader, failed))).ToArray();
        var preparing = Task.WhenAll(preparers).ContinueWith(t => prepared.Writer.TryComplete(t.Exception), TaskScheduler.Default);
        try
        {
            await Task.WhenAll(senders);
            await preparing;
            await Task.WhenAll(preparers);
        }
        finally
        {
            // buffers of chunks prepared but never sent (a failure): back to the pool
            while (prepared.Reader.TryRead(out var left))
            {
                left.Return();
            }
        }

        for (var i = 0; i < _checksums.Length; i++)
        {
            if (_checksums[i] == default)
            {
                _checksums[i] = ChunkChecksum.OfZeros(_layout.LengthOf(i)); // a hole the receiver also has as a hole
            }
        }
        if (_settings.SourceChanged?.Invoke() == true)
        {
            throw new SourceChangedException();
        }
        var digest = ChunkChecksum.Digest(_checksums);
        var result = await _sink.CompleteAsync(digest, ct);
        _progress.Stop();
        return new TransferResult(result, digest, _state.Resumed);
    }

    /// <summary>Chunks with data, and holes where the receiver holds data (those it must punch).</summary>
    private List<(long Index, long Weight)> ChunksToVisit()
    {
        var work = new List<(long, long)>();
        var ranges = new List<Extent>();
        for (long index = 0; index < _layout.Count; index++)
        {
            _map!.RangesIn(_layout, index, ranges);
            if (ranges.Count > 0)
            {
                work.Add((index, ranges.Sum(r => r.Length)));
            }
            else if (_state!.Known.ContainsKey(index))
            {
                work.Add((index, _layout.LengthOf(index)));
            }
        }
        return work;
    }

    private async Task PrepareLoopAsync(ChunkQueue queue, ChannelWriter<Prepared> output, CancellationTokenSource failed)
    {
        var ranges = new List<Extent>();
        try
        {
            while (queue.TryTake(out var chunk, out var position))
            {
                if (queue.TryPeek(position + _settings.Streams, out var ahead))
                {
                    await PrefetchAsync(ahead.Index, ranges, failed.Token);
                }
                var item = await PrepareAsync(chunk.Index, chunk.Weight, attempt: 0, ranges, failed.Token);
                if (item is { } p)
                {
                    var written = output.TryWrite(p);
                    _policy.Queued(queueWasFull: !written);
                    if (!written)
                    {
                        await output.WriteAsync(p, failed.Token);
                    }
                }
            }
        }
        catch
        {
            await failed.CancelAsync();
            throw;
        }
    }

    /// <summary>Starts the disk reading a chunk that a preparer will take soon, so reads overlap on a cold cache.</summary>
    private async ValueTask PrefetchAsync(long index, List<Extent> ranges, CancellationToken ct)
    {
        _map!.RangesIn(_layout, index, ranges);
        foreach (var range in ranges)
        {
            await _source.PrefetchAsync(_layout.OffsetOf(index) + range.Offset, range.Length, ct);
        }
    }

    /// <summary>Reads, checks and packs one chunk; null when the receiver already has it.</summary>
    private async ValueTask<Prepared?> PrepareAsync(long index, long weight, int attempt, List<Extent> ranges, CancellationToken ct)
    {
        var length = _layout.LengthOf(index);
        var offset = _layout.OffsetOf(index);
        _map!.RangesIn(_layout, index, ranges);
        byte[]? data = null;
        var zero = true;
        ChunkChecksum checksum;
        if (ranges.Count > 0)
        {
            data = ArrayPool<byte>.Shared.Rent(length);
            var at = 0L;
            foreach (var range in ranges)
            {
                data.AsSpan((int)at, (int)(range.Offset - at)).Clear();
                await _source.ReadAsync(offset + range.Offset, data.AsMemory((int)range.Offset, (int)range.Length), ct);
                _progress.Read(range.Length);
                at = range.End;
            }
            data.AsSpan((int)at, (int)(length - at)).Clear();
            zero = !data.AsSpan(0, length).ContainsAnyExcept((byte)0);
        }
        checksum = zero ? ChunkChecksum.OfZeros(length) : ChunkChecksum.Of(data.AsSpan(0, length));
        _checksums![index] = checksum;
        var known = _state!.Known.TryGetValue(index, out var k) ? k : ChunkChecksum.OfZeros(length);
        if (checksum == known)
        {
            if (data is not null)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
            _progress.Unchanged(weight);
            if (zero && data is not null)
            {
                _progress.ZeroSkipped();
            }
            return null;
        }
        if (zero)
        {
            if (data is not null)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
            return new Prepared(new ChunkRecord(index, ChunkKind.Zero, length, 0, checksum), null, null, weight, attempt);
        }
        if (_policy.ShouldCompress())
        {
            var packed = ArrayPool<byte>.Shared.Rent(length);
            var room = length - (int)(length * (1 - CompressionPolicy.MaxUsefulRatio));
            var clock = Stopwatch.GetTimestamp();
            var n = Zstd.TryCompress(data.AsSpan(0, length), packed.AsSpan(0, room));
            _policy.Compressed(length, n < 0 ? length : n, Stopwatch.GetElapsedTime(clock).TotalSeconds);
            if (n > 0)
            {
                return new Prepared(new ChunkRecord(index, ChunkKind.Zstd, length, n, checksum), data, packed, weight, attempt);
            }
            ArrayPool<byte>.Shared.Return(packed);
        }
        return new Prepared(new ChunkRecord(index, ChunkKind.Raw, length, length, checksum), data, null, weight, attempt);
    }

    private async Task SendLoopAsync(ChannelReader<Prepared> input, CancellationTokenSource failed)
    {
        var ranges = new List<Extent>();
        try
        {
            await foreach (var first in input.ReadAllAsync(failed.Token))
            {
                var item = first;
                try
                {
                    while (true)
                    {
                        try
                        {
                            await SendAsync(item, failed.Token);
                            break;
                        }
                        catch (StoragePoolException e) when (e.Code == ErrorCode.ChecksumMismatch)
                        {
                            var index = item.Record.Index;
                            if (item.Attempt > 0)
                            {
                                throw new StoragePoolException(ErrorCode.ChecksumMismatch,
                                    $"chunk {index} (bytes {_layout.OffsetOf(index)}–{_layout.OffsetOf(index) + _layout.LengthOf(index)}) " +
                                    $"arrived damaged twice ({e.Message}); it was not written, and the transfer stops", e);
                            }
                            _progress.Retried();
                            var (weight, attempt) = (item.Weight, item.Attempt + 1);
                            item.Return();
                            item = default;
                            item = await PrepareAsync(index, weight, attempt, ranges, failed.Token)
                                ?? throw new InvalidOperationException($"chunk {index} changed while it was being sent");
                        }
                    }
                }
                finally
                {
                    item.Return();
                }
            }
        }
        catch
        {
            await failed.CancelAsync();
            throw;
        }
    }

    private async Task SendAsync(Prepared item, CancellationToken ct)
    {
        var record = item.Record;
        var payload = item.Payload;
        if (_settings.Limiters is { } limiters)
        {
            foreach (var limiter in limiters)
            {
                await limiter.WaitAsync(Math.Max(record.PayloadLength, 1), ct);
            }
        }
        if (_settings.DamageSend?.Invoke(record.Index, item.Attempt) == true && payload.Length > 0)
        {
            var damaged = item.Packed ?? item.Data!;
            damaged[payload.Length / 2] ^= 0x5a;
        }
        await _sink.SendAsync(record, payload, ct);
        _progress.Sent(item.Weight, record.PayloadLength, record.Kind == ChunkKind.Zero);
    }

    /// <summary>A chunk ready to send; its buffers come from the shared pool and go back after the send.</summary>
    private readonly record struct Prepared(ChunkRecord Record, byte[]? Data, byte[]? Packed, long Weight, int Attempt)
    {
        public ReadOnlyMemory<byte> Payload => Record.Kind switch
        {
            ChunkKind.Zstd => Packed.AsMemory(0, Record.PayloadLength),
            ChunkKind.Raw => Data.AsMemory(0, Record.PayloadLength),
            _ => ReadOnlyMemory<byte>.Empty,
        };

        public void Return()
        {
            if (Data is not null)
            {
                ArrayPool<byte>.Shared.Return(Data);
            }
            if (Packed is not null)
            {
                ArrayPool<byte>.Shared.Return(Packed);
            }
        }
    }

    /// <summary>The chunks still to prepare, taken in order by the preparers.</summary>
    private sealed class ChunkQueue(List<(long Index, long Weight)> chunks)
    {
        private int _next = -1;

        public bool TryTake(out (long Index, long Weight) chunk, out int position)
        {
            position = Interlocked.Increment(ref _next);
            return TryPeek(position, out chunk);
        }

        public bool TryPeek(int position, out (long Index, long Weight) chunk)
        {
            chunk = position < chunks.Count ? chunks[position] : default;
            return position < chunks.Count;
        }
    }
}
