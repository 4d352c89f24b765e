using System.Diagnostics;

namespace StoragePool.Transfer.Engine;

/// <summary>Live counters of one transfer, updated by its streams and read by anyone (job show, progress bars).</summary>
public sealed class TransferProgress
{
    private long _bytesTotal, _bytesDone, _bytesRead, _bytesSent, _bytesUnchanged, _chunksSent, _chunksZero, _chunksUnchanged, _retries;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>Data bytes the transfer has to look at (the source's allocated bytes, plus holes that must be punched).</summary>
    public long BytesTotal => Volatile.Read(ref _bytesTotal);

    /// <summary>Of <see cref="BytesTotal"/>, how many are done (sent, or found already there).</summary>
    public long BytesDone => Volatile.Read(ref _bytesDone);

    public long BytesRead => Volatile.Read(ref _bytesRead);

    /// <summary>Payload bytes on the wire (after compression; zero chunks send none).</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Bytes not sent because the receiver already had them (resume, --incremental).</summary>
    public long BytesUnchanged => Volatile.Read(ref _bytesUnchanged);

    public long ChunksSent => Volatile.Read(ref _chunksSent);

    public long ChunksZero => Volatile.Read(ref _chunksZero);

    public long ChunksUnchanged => Volatile.Read(ref _chunksUnchanged);

    public long Retries => Volatile.Read(ref _retries);

    public TimeSpan Elapsed => _clock.Elapsed;

    public void SetTotal(long bytes) => Volatile.Write(ref _bytesTotal, bytes);

    public void Read(long bytes) => Interlocked.Add(ref _bytesRead, bytes);

    public void Sent(long dataBytes, long wireBytes, bool zero)
    {
        Interlocked.Add(ref _bytesSent, wireBytes);
        Interlocked.Add(ref _bytesDone, dataBytes);
        Interlocked.Increment(ref _chunksSent);
        if (zero)
        {
            Interlocked.Increment(ref _chunksZero);
        }
    }

    public void Unchanged(long dataBytes)
    {
        Interlocked.Add(ref _bytesUnchanged, dataBytes);
        Interlocked.Add(ref _bytesDone, dataBytes);
        Interlocked.Increment(ref _chunksUnchanged);
    }

    /// <summary>A chunk of allocated zeros the receiver already has as a hole: nothing is sent for it.</summary>
    public void ZeroSkipped() => Interlocked.Increment(ref _chunksZero);

    public void Retried() => Interlocked.Increment(ref _retries);

    public void Stop() => _clock.Stop();
}
