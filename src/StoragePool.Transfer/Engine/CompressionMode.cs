using StoragePool.Core.Errors;

namespace StoragePool.Transfer.Engine;

public enum CompressionMode
{
    /// <summary>Compress while it pays: the link is slower than zstd can feed it, and the data shrinks.</summary>
    Auto,

    /// <summary>Always try zstd; a chunk that does not shrink is still sent raw.</summary>
    Zstd,

    None,
}

public static class CompressionModes
{
    public static CompressionMode Parse(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "auto" => CompressionMode.Auto,
        "zstd" => CompressionMode.Zstd,
        "none" => CompressionMode.None,
        _ => throw new StoragePoolException(ErrorCode.InvalidArgument, $"unknown compression '{text}': use auto, zstd or none"),
    };

    public static string Name(this CompressionMode mode) => mode.ToString().ToLowerInvariant();
}

/// <summary>
/// Decides per chunk whether to compress. <c>auto</c> compresses only where it can pay: never when the receiver is
/// on this host (loopback: the "link" is a memory copy, and zstd would take CPU from both ends), else while
/// sending is the bottleneck (the prepared-chunk queue is found full: the link is slower than reading and hashing)
/// and the data shrinks. The first chunks, and one in <see cref="ProbeEvery"/> afterwards, are compressed as probes
/// so the ratio stays current. A bandwidth cap below zstd's measured rate makes the link the bottleneck by itself.
/// </summary>
public sealed class CompressionPolicy
{
    public const int ProbeEvery = 16;

    /// <summary>A chunk must shrink at least this much to be sent compressed.</summary>
    public const double MaxUsefulRatio = 0.95;

    private readonly Lock _lock = new();
    private readonly CompressionMode _mode;
    private readonly bool _localPeer;
    private readonly double? _capBytesPerSecond;
    private long _decisions;
    private double _zstdBytes, _zstdSeconds, _zstdOut;
    private double _sendBound = 0.5;

    /// <param name="localPeer">the receiver runs on this host.</param>
    public CompressionPolicy(CompressionMode mode, bool localPeer, double? capBytesPerSecond)
    {
        _mode = mode;
        _localPeer = localPeer;
        _capBytesPerSecond = capBytesPerSecond;
    }

    public CompressionMode Mode => _mode;

    /// <summary>Whether to compress the next chunk.</summary>
    public bool ShouldCompress()
    {
        if (_mode != CompressionMode.Auto || _localPeer)
        {
            return _mode == CompressionMode.Zstd;
        }
        lock (_lock)
        {
            var n = _decisions++;
            if (n < 2 || n % ProbeEvery == 0 || _zstdSeconds <= 0)
            {
                return true; // probe
            }
            if (_zstdOut / _zstdBytes > MaxUsefulRatio)
            {
                return false;
            }
            var capped = _capBytesPerSecond is { } cap && cap < _zstdBytes / _zstdSeconds;
            return capped || _sendBound > 0.5;
        }
    }

    public void Compressed(int inBytes, int outBytes, double seconds)
    {
        lock (_lock)
        {
            if (_zstdSeconds > 2)
            {
                // old samples fade, so the figures follow the data as it changes
                _zstdBytes /= 2;
                _zstdOut /= 2;
                _zstdSeconds /= 2;
            }
            _zstdBytes += inBytes;
            _zstdOut += Math.Min(outBytes, inBytes);
            _zstdSeconds += seconds;
        }
    }

    /// <summary>A prepared chunk found the send queue full (true: sending is the bottleneck) or not.</summary>
    public void Queued(bool queueWasFull)
    {
        lock (_lock)
        {
            _sendBound = (_sendBound * 0.9) + (queueWasFull ? 0.1 : 0);
        }
    }
}
