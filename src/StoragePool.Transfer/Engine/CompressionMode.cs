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
/// Decides per chunk whether to compress. <c>auto</c> compares two rates it measures as the job runs: how fast the
/// link takes bytes (bytes sent per second of send time, summed over streams) and how fast zstd eats them (bytes
/// per second of compress time, times the cores it can use). Compressing pays when zstd is faster than the link
/// and the data shrinks; the first chunks, and one in <see cref="ProbeEvery"/> afterwards, are compressed as probes
/// so both figures stay current. A cap on bandwidth counts as the link's rate.
/// </summary>
public sealed class CompressionPolicy
{
    public const int ProbeEvery = 16;

    /// <summary>A chunk must shrink at least this much to be sent compressed.</summary>
    public const double MaxUsefulRatio = 0.95;

    private readonly Lock _lock = new();
    private readonly CompressionMode _mode;
    private readonly int _parallelism;
    private readonly double? _capBytesPerSecond;
    private long _decisions;
    private double _sendBytes, _sendSeconds, _zstdBytes, _zstdSeconds, _zstdOut;

    public CompressionPolicy(CompressionMode mode, int parallelism, double? capBytesPerSecond)
    {
        _mode = mode;
        _parallelism = Math.Max(1, Math.Min(parallelism, Environment.ProcessorCount));
        _capBytesPerSecond = capBytesPerSecond;
    }

    public CompressionMode Mode => _mode;

    /// <summary>Whether to compress the next chunk.</summary>
    public bool ShouldCompress()
    {
        if (_mode != CompressionMode.Auto)
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
            var ratio = _zstdBytes > 0 ? _zstdOut / _zstdBytes : 1;
            if (ratio > MaxUsefulRatio)
            {
                return false;
            }
            var zstdRate = _zstdBytes / _zstdSeconds * _parallelism;
            var linkRate = _sendSeconds > 0 ? _sendBytes / _sendSeconds : double.PositiveInfinity;
            if (_capBytesPerSecond is { } cap)
            {
                linkRate = Math.Min(linkRate, cap);
            }
            // raw: the link's rate; compressed: zstd's rate or the link's rate stretched by the ratio, whichever is slower
            return Math.Min(zstdRate, linkRate / ratio) > linkRate;
        }
    }

    public void Compressed(int inBytes, int outBytes, double seconds)
    {
        lock (_lock)
        {
            Decay(ref _zstdBytes, ref _zstdSeconds, ref _zstdOut);
            _zstdBytes += inBytes;
            _zstdOut += Math.Min(outBytes, inBytes);
            _zstdSeconds += seconds;
        }
    }

    /// <summary>A send of <paramref name="bytes"/> took <paramref name="seconds"/> on one stream.</summary>
    public void Sent(int bytes, double seconds)
    {
        lock (_lock)
        {
            var unused = 0.0;
            Decay(ref _sendBytes, ref _sendSeconds, ref unused);
            // streams send in parallel: the link's rate is the sum, so count each stream's time once per stream
            _sendBytes += bytes;
            _sendSeconds += seconds / _parallelism;
        }
    }

    /// <summary>Old samples fade so the figures follow the link as it changes.</summary>
    private static void Decay(ref double bytes, ref double seconds, ref double other)
    {
        if (seconds > 2)
        {
            bytes /= 2;
            seconds /= 2;
            other /= 2;
        }
    }
}
