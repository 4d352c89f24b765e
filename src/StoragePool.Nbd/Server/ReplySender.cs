using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using StoragePool.Core.Threading;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

/// <summary>
/// Writes replies to the connection's stream, whole and one at a time, in the order they are finished.
/// Whoever finishes a reply while nobody is sending becomes the sender and drains the queue (<see cref="DrainTurn"/>
/// says whose turn it is, so that no reply is ever left queued with nobody sending it): small replies
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
    private readonly DrainTurn _turn = new();
    private volatile bool _broken;

    /// <summary>When the write in progress started (<see cref="Stopwatch"/> ticks); 0 between writes.</summary>
    private long _writingSince;

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
        context.Stage = RequestStage.Replying;
        _queue.Enqueue(context);
        if (_turn.Queued())
        {
            _ = DrainAsync();
        }
    }

    /// <summary>This caller's turn to send: rounds of what is owed, until nothing is.</summary>
    private async Task DrainAsync()
    {
        var owed = _turn.Owed;
        do
        {
            await SendRoundAsync(owed);
            owed = _turn.Drained(owed);
        }
        while (owed != 0);
    }

    /// <summary>
    /// Takes <paramref name="count"/> replies from the queue (each was queued before it was counted) and sends them.
    /// After a failed write it releases them unsent.
    /// </summary>
    private async ValueTask SendRoundAsync(int count)
    {
        var length = 0;
        var batched = 0;
        var taken = 0;
        // taken off the queue, and neither in the batch nor released yet
        RequestContext? current = null;
        try
        {
            for (; taken < count; taken++)
            {
                current = Take();
                if (_broken)
                {
                    current.Release();
                    current = null;
                    continue;
                }
                var reply = current.Reply;
                // a file reply's Reply is its header, always small
                if (reply.Length <= CoalesceLimit)
                {
                    if (reply.Length > _batch.Length - length || batched == _batched.Length)
                    {
                        await FlushBatchAsync(length, batched);
                        length = batched = 0;
                    }
                    reply.Span.CopyTo(_batch.AsSpan(length));
                    length += reply.Length;
                    _batched[batched++] = current;
                    var file = current.File;
                    current = null;
                    if (file is { } range)
                    {
                        // the header ends the batch; the file's bytes follow it
                        await FlushBatchAsync(length, batched, range);
                        length = batched = 0;
                    }
                    continue;
                }
                if (length > 0)
                {
                    await FlushBatchAsync(length, batched);
                    length = batched = 0;
                }
                var large = current;
                current = null;
                Volatile.Write(ref _writingSince, Stopwatch.GetTimestamp());
                try
                {
                    await _stream.WriteAsync(reply);
                }
                finally
                {
                    Volatile.Write(ref _writingSince, 0);
                    large.Release();
                }
            }
            if (length > 0)
            {
                await FlushBatchAsync(length, batched);
                length = batched = 0;
            }
        }
        catch (Exception ex)
        {
            // the connection is lost: what is in hand, batched or still owed in this round is released unsent
            _broken = true;
            _failed(ex);
            current?.Release();
            for (taken++; taken < count; taken++)
            {
                Take().Release();
            }
        }
        finally
        {
            ReleaseBatched(batched);
        }
    }

    /// <summary>The next queued reply; there is one for every reply counted and not yet drained.</summary>
    private RequestContext Take() =>
        _queue.TryDequeue(out var context)
            ? context
            : throw new InvalidOperationException("a reply counted as queued is not in the reply queue");

    private async ValueTask FlushBatchAsync(int length, int count, FileRange? file = null)
    {
        Volatile.Write(ref _writingSince, Stopwatch.GetTimestamp());
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
            Volatile.Write(ref _writingSince, 0);
            ReleaseBatched(count);
        }
    }

    /// <summary>What the sender is doing at <paramref name="now"/>, for the log line of a stuck request.</summary>
    public string Describe(long now)
    {
        var owed = _turn.Owed;
        var writing = Volatile.Read(ref _writingSince);
        if (_broken)
        {
            return $"stopped after a failed write ({owed} replies owed are dropped)";
        }
        if (writing != 0)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"has been writing for {Stopwatch.GetElapsedTime(writing, now).TotalSeconds:0.0} s with {owed} replies owed (the client is not reading its replies)");
        }
        return owed == 0 ? "has no reply to send" : $"owes {owed} replies and is between writes";
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
