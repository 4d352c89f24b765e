using System.Buffers;
using StoragePool.Nbd.Protocol;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

/// <summary>
/// One request in flight and, once processed, its reply. Pooled per connection (there are never more than the
/// in-flight window), queued to the thread pool as itself, so a request costs no allocation of its own.
/// </summary>
internal sealed class RequestContext : IThreadPoolWorkItem
{
    /// <summary>Room for a simple reply or a chunk with an error message.</summary>
    public const int SmallReplySize = 512;

    private readonly NbdConnection _connection;
    private readonly Action _finish;
    private ValueTask _processing;
    private long _since;
    private int _stage;

    public RequestContext(NbdConnection connection)
    {
        _connection = connection;
        _finish = Finish;
    }

    public NbdRequest Request { get; private set; }

    /// <summary>A pooled buffer: the write payload, or the read / block status reply.</summary>
    public byte[]? Buffer { get; private set; }

    /// <summary>What the reply sender writes: part of <see cref="Buffer"/> or of <see cref="Small"/>.</summary>
    public ReadOnlyMemory<byte> Reply { get; set; }

    /// <summary>The data of a read reply, sent from the volume's file after <see cref="Reply"/>; null for the rest.</summary>
    public FileRange? File { get; set; }

    /// <summary>Bytes charged to the in-flight window.</summary>
    public long WindowBytes { get; private set; }

    public byte[] Small { get; } = new byte[SmallReplySize];

    /// <summary>When the request's header was read (<see cref="System.Diagnostics.Stopwatch"/> ticks); 0 while the context is free.</summary>
    public long Since => Volatile.Read(ref _since);

    /// <summary>Where the request is: read, processed, replied (for the stuck-request watchdog).</summary>
    public RequestStage Stage
    {
        get => (RequestStage)Volatile.Read(ref _stage);
        set => Volatile.Write(ref _stage, (int)value);
    }

    /// <summary>The <see cref="Since"/> of the request the watchdog last reported stuck (touched by the watchdog only).</summary>
    public long ReportedSince { get; set; }

    /// <summary>Starts carrying a request whose header was read at <paramref name="since"/>.</summary>
    public void Begin(in NbdRequest request, long windowBytes, long since)
    {
        Request = request;
        WindowBytes = windowBytes;
        Stage = RequestStage.Reading;
        Volatile.Write(ref _since, since);
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes: the one the request already has, if big enough.</summary>
    public byte[] RentBuffer(int length)
    {
        if (Buffer is not null)
        {
            if (Buffer.Length >= length)
            {
                return Buffer;
            }
            ArrayPool<byte>.Shared.Return(Buffer);
        }
        Buffer = ArrayPool<byte>.Shared.Rent(length);
        return Buffer;
    }

    /// <summary>Thread pool entry: processes the request, then hands the reply to the sender.</summary>
    // the ValueTask is kept only until it completes and is observed exactly once, in Finish
#pragma warning disable CA2012
    public void Execute()
    {
        Stage = RequestStage.Processing;
        _processing = _connection.ProcessAsync(this);
        if (_processing.IsCompleted)
        {
            Finish();
        }
        else
        {
            _processing.GetAwaiter().UnsafeOnCompleted(_finish);
        }
    }
#pragma warning restore CA2012

    /// <summary>Gives back the buffer, the context and the window place: the reply has been written (or never will be).</summary>
    public void Release()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = null;
        }
        Reply = default;
        File = null;
        Volatile.Write(ref _since, 0);
        var bytes = WindowBytes;
        WindowBytes = 0;
        _connection.Return(this, bytes);
    }

    private void Finish()
    {
        var processing = _processing;
        _processing = default;
        try
        {
            // observing the result returns a pooled state machine to its pool; ProcessAsync does not throw
            processing.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            _connection.Fail(this, ex);
        }
        _connection.Sender.Send(this);
    }
}

/// <summary>Where a request in flight is.</summary>
internal enum RequestStage
{
    /// <summary>Its header was read; its payload (if any) is being read, or it waits for a pool thread.</summary>
    Reading,

    /// <summary>A pool thread runs it against the volume.</summary>
    Processing,

    /// <summary>Done: its reply is queued or being written.</summary>
    Replying,
}
