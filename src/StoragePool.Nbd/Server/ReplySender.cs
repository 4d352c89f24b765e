using System.Collections.Concurrent;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

/// <summary>
/// Writes replies to the connection's stream, whole and one at a time, in the order they are finished.
/// Whoever finishes a reply while nobody is sending becomes the sender and drains the queue: small replies
/// are copied into one batch so that many go out in one write; large ones are written from their own buffer.
/// A reply with a <see cref="RequestContext.File"/> part goes out as the batch so far, its header last, followed by
/// the file's bytes (<see cref="FileSender"/>).
/// Nobody waits for a lock, and nothing is allocated per reply but the socket API's bookkeeping for a file part.
/// A reply's buffers are released once written.
/// </summary>
internal sealed class ReplySender
{
    /// <summary>Replies up to this size are copied into the batch rather than written on their own.</summary>
    private const int CoalesceLimit = 16 << 10;

    private readonly ConcurrentQueue<RequestContext> _queue = new();
    private readonly Stream _stream;
    private readonly FileSender? _files;
    private readonly Action<Exception> _failed;
    private readonly byte[] _batch = new byte[128 << 10];
    private readonly RequestContext?[] _batched;
    private int _sending;
    private volatile bool _broken;

    /// <param name="stream">the connection's stream (plain or TLS).</param>
    /// <param name="files">sends file ranges on the stream's socket; null when replies must go through the stream (TLS).</param>
    /// <param name="maxInFlight">the most replies that can be queued at once.</param>
    /// <param name="failed">called once when a write fails; queued replies are then released unsent.</param>
    public ReplySender(Stream stream, FileSender? files, int maxInFlight, Action<Exception> failed)
    {
        _stream = stream;
        _files = files;
        _failed = failed;
        _batched = new RequestContext[Math.Max(maxInFlight, _batch.Length / 16) + 1];
    }

    /// <summary>Whether a reply may have a <see cref="RequestContext.File"/> part.</summary>
    public bool SendsFiles => _files is not null;

    /// <summary>Queues a finished reply (<see cref="RequestContext.Reply"/>) and sends it unless someone else is sending.</summary>
    public void Send(RequestContext context)
    {
        _queue.Enqueue(context);
        if (Interlocked.CompareExchange(ref _sending, 1, 0) == 0)
        {
            _ = DrainAsync();
        }
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            try
            {
                await DrainOnceAsync();
            }
            catch (Exception ex)
            {
                _broken = true;
                _failed(ex);
            }
            Volatile.Write(ref _sending, 0);
            // a reply queued after our last look but before we let go would be stranded: look again
            if (_queue.IsEmpty || Interlocked.CompareExchange(ref _sending, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private async ValueTask DrainOnceAsync()
    {
        var length = 0;
        var count = 0;
        try
        {
            while (_queue.TryDequeue(out var context))
            {
                if (_broken)
                {
                    context.Release();
                    continue;
                }
                var reply = context.Reply;
                // a file reply's Reply is its header, always small
                if (reply.Length <= CoalesceLimit)
                {
                    if (reply.Length > _batch.Length - length || count == _batched.Length)
                    {
                        await FlushBatchAsync(length, count);
                        length = count = 0;
                    }
                    reply.Span.CopyTo(_batch.AsSpan(length));
                    length += reply.Length;
                    _batched[count++] = context;
                    if (context.File is { } file)
                    {
                        // the header ends the batch; the file's bytes follow it
                        await FlushBatchAsync(length, count, file);
                        length = count = 0;
                    }
                    continue;
                }
                if (length > 0)
                {
                    await FlushBatchAsync(length, count);
                    length = count = 0;
                }
                try
                {
                    await _stream.WriteAsync(reply);
                }
                finally
                {
                    context.Release();
                }
            }
            if (length > 0)
            {
                await FlushBatchAsync(length, count);
                length = count = 0;
            }
        }
        finally
        {
            // on failure: what was batched is lost with the connection
            ReleaseBatched(count);
        }
    }

    private async ValueTask FlushBatchAsync(int length, int count, FileRange? file = null)
    {
        try
        {
            if (file is { } range)
            {
                await _files!.SendAsync(_batch.AsMemory(0, length), range);
            }
            else
            {
                await _stream.WriteAsync(_batch.AsMemory(0, length));
            }
        }
        finally
        {
            ReleaseBatched(count);
        }
    }

    private void ReleaseBatched(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var context = _batched[i];
            if (context is not null)
            {
                _batched[i] = null;
                context.Release();
            }
        }
    }
}
