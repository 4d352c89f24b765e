using StoragePool.Transfer.Chunks;

namespace StoragePool.Transfer.Engine;

/// <summary>How a transfer runs.</summary>
/// <param name="Streams">concurrent sends (and as many chunks being read and compressed ahead of them).</param>
/// <param name="Limiters">every send waits on each (the job's --bandwidth, the daemon's cap).</param>
/// <param name="SourceChanged">asked after the last chunk is sent and before the receiver is told to finish: true when the
/// source was written during the transfer (the run then ends with <see cref="SourceChangedException"/>).</param>
/// <param name="DamageSend">tests only: true to flip a byte of chunk (index, attempt) after it was checksummed, as a bad link would.</param>
public sealed record TransferSettings(
    int ChunkSize = ChunkLayout.DefaultChunkSize,
    int Streams = TransferSettings.DefaultStreams,
    CompressionMode Compression = CompressionMode.Auto,
    IReadOnlyList<RateLimiter>? Limiters = null,
    Func<long, int, bool>? DamageSend = null,
    Func<bool>? SourceChanged = null)
{
    /// <summary>
    /// Chosen by measurement (docs/benchmarks.md, 2 cores, loopback): with the receiver writing O_DIRECT, a chunk's
    /// acknowledgement waits for the disk, and 8 streams beat 4 and 16 warm and cold (4 had won while writes went to
    /// the page cache).
    /// </summary>
    public const int DefaultStreams = 8;

    public const int MaxStreams = 64;
}

/// <summary>What a finished transfer did.</summary>
public sealed record TransferResult(SinkResult Sink, ChunkChecksum Digest, bool Resumed);

/// <summary>The source was written while it was being sent: what arrived is not one point in time. Nothing was finished.</summary>
public sealed class SourceChangedException : Exception
{
    public SourceChangedException()
        : base("the source was written during the transfer")
    {
    }

    public SourceChangedException(string message)
        : base(message)
    {
    }

    public SourceChangedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
