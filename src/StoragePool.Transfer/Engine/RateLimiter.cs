using System.Diagnostics;
using StoragePool.Core.Errors;

namespace StoragePool.Transfer.Engine;

/// <summary>
/// A token bucket in bytes: at most <see cref="BytesPerSecond"/> on average, bursts up to a quarter second's worth.
/// Safe for many streams. A job's sends pass its own limiter and the daemon-wide one.
/// </summary>
public sealed class RateLimiter
{
    private readonly Lock _lock = new();
    private readonly double _burst;
    private double _tokens;
    private long _last = Stopwatch.GetTimestamp();

    public RateLimiter(long bytesPerSecond)
    {
        Check(bytesPerSecond);
        BytesPerSecond = bytesPerSecond;
        _burst = Math.Max(bytesPerSecond / 4.0, 64 << 10);
        _tokens = _burst;
    }

    public long BytesPerSecond { get; }

    /// <summary>Refuses a rate that would never move a byte.</summary>
    public static void Check(long bytesPerSecond)
    {
        if (bytesPerSecond <= 0)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"a bandwidth of {bytesPerSecond} bytes/s would never move a byte; give a positive rate such as 200M (bytes per second)");
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> may go (a request larger than the burst borrows from the future).</summary>
    public async ValueTask WaitAsync(long bytes, CancellationToken ct)
    {
        TimeSpan wait;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + (Stopwatch.GetElapsedTime(_last, now).TotalSeconds * BytesPerSecond));
            _last = now;
            _tokens -= bytes;
            wait = _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / BytesPerSecond);
        }
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, ct);
        }
    }
}
