using System.Runtime.CompilerServices;

namespace StoragePool.Nbd.Server;

/// <summary>The peer closed the connection in the middle of a frame.</summary>
internal sealed class TruncatedFrameException : Exception
{
    public TruncatedFrameException(string message)
        : base(message)
    {
    }

    public TruncatedFrameException()
    {
    }

    public TruncatedFrameException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Buffered reads of whole frames from the connection's stream: headers are parsed out of one buffer that a
/// single socket read usually fills with many requests; a large payload is copied out of what is buffered and
/// the rest is read straight into its destination. One reader at a time (the connection's read loop).
/// </summary>
internal sealed class FrameReader
{
    private readonly byte[] _buffer;
    private Stream _stream;
    private int _start;
    private int _end;

    public FrameReader(Stream stream, int bufferSize)
    {
        _stream = stream;
        _buffer = new byte[bufferSize];
    }

    public int Buffered => _end - _start;

    /// <summary>Bytes buffered and not yet consumed (valid until the next read).</summary>
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(_start, _end - _start);

    /// <summary>Reads from <paramref name="stream"/> from now on (after STARTTLS); nothing may be buffered.</summary>
    public void SwitchTo(Stream stream)
    {
        if (Buffered != 0)
        {
            throw new InvalidOperationException("the client sent data before the TLS handshake");
        }
        _stream = stream;
        _start = _end = 0;
    }

    /// <summary>
    /// Ensures <paramref name="count"/> bytes are buffered. False when the peer closed the connection cleanly
    /// (nothing buffered); <see cref="TruncatedFrameException"/> when it closed part-way through.
    /// </summary>
    public ValueTask<bool> EnsureAsync(int count, CancellationToken cancellationToken) =>
        Buffered >= count ? ValueTask.FromResult(true) : FillAsync(count, cleanEndAllowed: true, cancellationToken);

    public void Advance(int count) => _start += count;

    /// <summary>Fills <paramref name="destination"/> from the buffer, then straight from the stream.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.Length > Buffered && destination.Length <= _buffer.Length / 4)
        {
            // a small payload: fill the buffer (and with it the requests behind) rather than read it on its own
            await FillAsync(destination.Length, cleanEndAllowed: false, cancellationToken);
        }
        var fromBuffer = Math.Min(Buffered, destination.Length);
        _buffer.AsSpan(_start, fromBuffer).CopyTo(destination.Span);
        _start += fromBuffer;
        var remaining = destination[fromBuffer..];
        while (!remaining.IsEmpty)
        {
            var read = await _stream.ReadAsync(remaining, cancellationToken);
            if (read == 0)
            {
                throw new TruncatedFrameException(
                    $"the client closed the connection {remaining.Length} bytes short of a {destination.Length}-byte payload");
            }
            remaining = remaining[read..];
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes.</summary>
    public async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
    {
        var total = count;
        while (count > 0)
        {
            if (Buffered == 0)
            {
                _start = _end = 0;
                var read = await _stream.ReadAsync(_buffer, cancellationToken);
                if (read == 0)
                {
                    throw new TruncatedFrameException(
                        $"the client closed the connection {count} bytes short of a {total}-byte payload");
                }
                _end = read;
            }
            var take = (int)Math.Min(count, Buffered);
            _start += take;
            count -= take;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillAsync(int count, bool cleanEndAllowed, CancellationToken cancellationToken)
    {
        if (count > _buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "frame is larger than the read buffer");
        }
        if (_buffer.Length - _start < count)
        {
            _buffer.AsSpan(_start, Buffered).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        while (Buffered < count)
        {
            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (read == 0)
            {
                if (Buffered == 0 && cleanEndAllowed)
                {
                    return false;
                }
                throw new TruncatedFrameException(
                    $"the client closed the connection {count - Buffered} bytes short of a {count}-byte frame");
            }
            _end += read;
        }
        return true;
    }
}
