using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using StoragePool.Core.Errors;
using StoragePool.Nbd.Protocol;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

// The transmission phase: one loop reads requests and hands each to the thread pool; replies go out through
// the ReplySender as requests finish, in any order. A request the server can parse past but not serve gets
// its error; a frame it cannot parse past (bad magic, a payload too large to skip, a truncated frame) ends
// the connection.
internal sealed partial class NbdConnection
{
    /// <summary>Reads at least this large (without DF) ask the volume where its holes are and send those as holes.</summary>
    private const int SparseReadThreshold = 64 << 10;

    /// <summary>Most chunks in one read reply; the rest of the range goes as data.</summary>
    private const int MaxReadChunks = 32;

    /// <summary>Most extents in one block status reply; the client asks again from where it ends.</summary>
    private const int MaxBlockDescriptors = 1024;

    private const NbdCommandFlags KnownFlags = NbdCommandFlags.Fua | NbdCommandFlags.NoHole | NbdCommandFlags.DontFragment
        | NbdCommandFlags.RequestOne | NbdCommandFlags.FastZero;

    /// <summary>Reads requests until the client disconnects; true when it did so cleanly (DISC, or closing between requests).</summary>
    private async Task<bool> TransmitAsync(CancellationToken stopReading)
    {
        var volume = _volume!;
        var window = _window!;
        var sender = _sender!;
        while (true)
        {
            Reader = ReaderState.Request;
            if (!await _reader.EnsureAsync(NbdLimits.RequestSize, stopReading))
            {
                return true;
            }
            var since = Stopwatch.GetTimestamp();
            var request = NbdCodec.ReadRequest(_reader.Span, out var magic);
            if (magic != NbdMagic.Request)
            {
                _logger.BadRequestMagic(_id, magic);
                Abort();
                return false;
            }
            _reader.Advance(NbdLimits.RequestSize);
            _requestCount++;
            if (request.Command == NbdCommand.Disconnect)
            {
                return true;
            }

            var (error, reason) = Validate(request, volume);
            if (error != NbdError.None)
            {
                _logger.RequestRefused(_id, NbdNames.Of(request.Command), request.Offset, request.Length, NbdNames.Of(error), reason!);
                if (request.Command == NbdCommand.Write)
                {
                    var skippable = Math.Max(_options.MaxRequestBytes, NbdLimits.DefaultMaxPayload);
                    if (request.Length > skippable)
                    {
                        _logger.ConnectionDropped(_id,
                            $"a {request.Length}-byte NBD_CMD_WRITE payload is more than the {skippable} bytes the server will read past");
                        Abort();
                        return false;
                    }
                    Reader = ReaderState.Payload;
                    await _reader.SkipAsync(request.Length, stopReading);
                }
                Reader = ReaderState.Window;
                await window.EnterAsync(0, stopReading);
                var refused = RentContext(request, 0, since);
                SetError(refused, error, reason!);
                sender.Send(refused);
                continue;
            }

            var windowBytes = request.Command switch
            {
                NbdCommand.Write => request.Length,
                NbdCommand.Read => request.Length + (MaxReadChunks * NbdLimits.HoleChunkSize),
                NbdCommand.BlockStatus => NbdLimits.ChunkHeaderSize + 4 + (8 * MaxBlockDescriptors),
                _ => 0L,
            };
            var enter = window.EnterAsync(windowBytes, stopReading);
            if (!enter.IsCompletedSuccessfully)
            {
                Reader = ReaderState.Window;
                await enter;
            }
            var context = RentContext(request, windowBytes, since);
            if (request.Length == 0)
            {
                // nothing to do: empty requests succeed
                SetEmptySuccess(context);
                sender.Send(context);
                continue;
            }
            if (request.Command == NbdCommand.Write)
            {
                var buffer = context.RentBuffer((int)request.Length);
                Reader = ReaderState.Payload;
                try
                {
                    await _reader.ReadExactlyAsync(buffer.AsMemory(0, (int)request.Length), stopReading);
                }
                catch
                {
                    context.Release();
                    throw;
                }
            }
            if (request.Command == NbdCommand.Read && TryReadCached(context, volume))
            {
                sender.Send(context);
                continue;
            }
            ThreadPool.UnsafeQueueUserWorkItem(context, preferLocal: true);
        }
    }

    /// <summary>What is wrong with a request before it reaches the volume, as the spec says to answer it.</summary>
    private (NbdError Error, string? Reason) Validate(in NbdRequest request, IBlockVolume volume)
    {
        var allowed = request.Command switch
        {
            NbdCommand.Read => NbdCommandFlags.Fua | (_structuredReplies ? NbdCommandFlags.DontFragment : 0),
            NbdCommand.Write or NbdCommand.Flush or NbdCommand.Trim or NbdCommand.Cache => NbdCommandFlags.Fua,
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole | NbdCommandFlags.FastZero,
            NbdCommand.BlockStatus => NbdCommandFlags.Fua | NbdCommandFlags.RequestOne,
            _ => (NbdCommandFlags?)null,
        };
        if (allowed is null)
        {
            return (NbdError.Invalid, $"unknown command {(ushort)request.Command}");
        }
        var stray = request.Flags & ~allowed.Value;
        if (stray != 0)
        {
            return (NbdError.Invalid, (stray & ~KnownFlags) != 0
                ? $"unknown command flags 0x{(ushort)stray:x4}"
                : $"flags 0x{(ushort)stray:x4} are not valid on {NbdNames.Of(request.Command)}");
        }
        var writes = request.Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        if (writes && volume.ReadOnly)
        {
            return (NbdError.Perm, $"{volume.Name} is read-only");
        }
        var payloadSized = request.Command is NbdCommand.Read or NbdCommand.Write or NbdCommand.Cache;
        if (payloadSized && request.Length > (uint)_options.MaxRequestBytes)
        {
            var error = request.Command == NbdCommand.Read && (request.Flags & NbdCommandFlags.DontFragment) != 0
                ? NbdError.Overflow
                : NbdError.Invalid;
            return (error, $"{request.Length} bytes is more than the {_options.MaxRequestBytes}-byte maximum block size");
        }
        switch (request.Command)
        {
            case NbdCommand.Flush when request.Offset != 0 || request.Length != 0:
                return (NbdError.Invalid, "NBD_CMD_FLUSH must have offset and length 0");
            case NbdCommand.BlockStatus when !_blockStatus:
                return (NbdError.Invalid, "no metadata context was selected (NBD_OPT_SET_META_CONTEXT base:allocation)");
            case NbdCommand.BlockStatus when request.Length == 0:
                return (NbdError.Invalid, "NBD_CMD_BLOCK_STATUS of 0 bytes");
        }
        if (request.Command != NbdCommand.Flush)
        {
            var size = (ulong)volume.Size;
            if (request.Offset > size || request.Length > size - request.Offset)
            {
                // the spec: ENOSPC for writes past the end, EINVAL for the rest
                var error = request.Command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdError.NoSpace : NbdError.Invalid;
                return (error, $"{request.Offset}+{request.Length} is past the end of {volume.Name} ({size} bytes)");
            }
        }
        return (NbdError.None, null);
    }

    /// <summary>Runs one valid request against the volume and leaves its reply in the context. Never throws.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask ProcessAsync(RequestContext context)
    {
        var request = context.Request;
        var volume = _volume!;
        var token = _abort.Token;
        try
        {
            var offset = (long)request.Offset;
            var fua = (request.Flags & NbdCommandFlags.Fua) != 0 ? WriteOptions.Fua : WriteOptions.None;
            switch (request.Command)
            {
                case NbdCommand.Read:
                    await ReadAsync(context, volume, token);
                    return;
                case NbdCommand.Write:
                    await volume.WriteAsync(offset, context.Buffer.AsMemory(0, (int)request.Length), fua, token);
                    break;
                case NbdCommand.Flush:
                    await volume.FlushAsync(token);
                    break;
                case NbdCommand.Cache:
                    await volume.PrefetchAsync(offset, request.Length, token);
                    break;
                case NbdCommand.Trim:
                    await volume.TrimAsync(offset, request.Length, fua, token);
                    break;
                case NbdCommand.WriteZeroes:
                    var options = fua
                        | ((request.Flags & NbdCommandFlags.NoHole) != 0 ? WriteOptions.NoHole : WriteOptions.None)
                        | ((request.Flags & NbdCommandFlags.FastZero) != 0 ? WriteOptions.FastZero : WriteOptions.None);
                    await volume.WriteZeroesAsync(offset, request.Length, options, token);
                    break;
                case NbdCommand.BlockStatus:
                    await BlockStatusAsync(context, volume, token);
                    return;
            }
            SetSimpleReply(context, NbdError.None);
        }
        catch (Exception ex)
        {
            var error = ErrorFor(ex, request, volume);
            if (error == NbdError.IO)
            {
                _logger.RequestFailed(_id, NbdNames.Of(request.Command), request.Offset, request.Length, _export, NbdNames.Of(error), ex);
            }
            else if (error != NbdError.Shutdown)
            {
                _logger.RequestRefused(_id, NbdNames.Of(request.Command), request.Offset, request.Length, NbdNames.Of(error), ex.Message);
            }
            SetError(context, error, error switch
            {
                NbdError.Shutdown => $"{_export} is going away (server stopping or volume removed)",
                _ when ex is StoragePoolException => ex.Message,
                _ => $"input/output error on {_export}; the server's log has the details",
            });
        }
    }

    private NbdError ErrorFor(Exception exception, in NbdRequest request, IBlockVolume volume) => exception switch
    {
        StoragePoolException { Code: ErrorCode.InvalidArgument or ErrorCode.InvalidSize } => NbdError.Invalid,
        StoragePoolException { Code: ErrorCode.PermissionDenied } => NbdError.Perm,
        StoragePoolException { Code: ErrorCode.NoSpace } => NbdError.NoSpace,
        // ENOTSUP is only for fast zeroes; anything else the volume cannot do is a bad request
        StoragePoolException { Code: ErrorCode.Unsupported } => (request.Flags & NbdCommandFlags.FastZero) != 0
            ? NbdError.NotSupported
            : NbdError.Invalid,
        OperationCanceledException when _abort.IsCancellationRequested || volume.Revoked.IsCancellationRequested => NbdError.Shutdown,
        _ => NbdError.IO,
    };

    /// <summary>
    /// Answers a read of less than <see cref="SparseReadThreshold"/> bytes on this thread, the socket's event thread,
    /// when the volume can read it without waiting (the page cache holds it): no hop to the thread pool and back,
    /// which for 4 KiB reads costs more than the read (docs/benchmarks.md). False leaves it to <see cref="ProcessAsync"/>.
    /// </summary>
    private bool TryReadCached(RequestContext context, IBlockVolume volume)
    {
        var request = context.Request;
        var length = (int)request.Length;
        if (length >= SparseReadThreshold)
        {
            return false;
        }
        var buffer = context.RentBuffer(ReadHeaderSize + length);
        if (!volume.TryReadCached((long)request.Offset, buffer.AsSpan(ReadHeaderSize, length)))
        {
            return false;
        }
        SetReadReply(context, buffer);
        return true;
    }

    /// <summary>
    /// Makes a read's reply one piece whose data the sender takes from the volume's file (<see cref="FileSender"/>),
    /// when the connection is not encrypted and the page cache holds the range: the bytes are not copied through this
    /// process, which for large reads is most of their cost (docs/benchmarks.md), and sending them will not wait for
    /// the disk (the sender may be on the socket's event thread). Allocated zeros go as data, not as a hole. False
    /// leaves the read to be copied.
    /// </summary>
    private bool TrySetFileReply(RequestContext context, IBlockVolume volume)
    {
        var request = context.Request;
        if (!_sender!.SendsFiles || !volume.TryGetCachedFileRange((long)request.Offset, (int)request.Length, out var range))
        {
            return false;
        }
        if (_structuredReplies)
        {
            NbdCodec.WriteDataChunkHeader(context.Small, NbdReplyFlags.Done, request.Handle, request.Offset, (int)request.Length);
        }
        else
        {
            NbdCodec.WriteSimpleReply(context.Small, NbdError.None, request.Handle);
        }
        context.Reply = context.Small.AsMemory(0, ReadHeaderSize);
        context.File = range;
        return true;
    }

    /// <summary>What precedes the data of a read reply that is one piece: a simple reply's header or a data chunk's.</summary>
    private int ReadHeaderSize => _structuredReplies ? NbdLimits.DataChunkHeaderSize : NbdLimits.SimpleReplySize;

    /// <summary>The reply to a read whose data is in <paramref name="buffer"/> after <see cref="ReadHeaderSize"/> bytes.</summary>
    private void SetReadReply(RequestContext context, byte[] buffer)
    {
        var request = context.Request;
        var length = (int)request.Length;
        if (!_structuredReplies)
        {
            NbdCodec.WriteSimpleReply(buffer, NbdError.None, request.Handle);
            context.Reply = buffer.AsMemory(0, NbdLimits.SimpleReplySize + length);
            return;
        }
        var dontFragment = (request.Flags & NbdCommandFlags.DontFragment) != 0;
        context.Reply = buffer.AsMemory(0, Chunk(buffer, 0, request.Handle, (long)request.Offset, length, zeroAsHole: !dontFragment, NbdReplyFlags.Done));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadAsync(RequestContext context, IBlockVolume volume, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var offset = (long)request.Offset;
        var length = (int)request.Length;
        if (!_structuredReplies || (request.Flags & NbdCommandFlags.DontFragment) != 0 || length < SparseReadThreshold)
        {
            if (length >= SparseReadThreshold && TrySetFileReply(context, volume))
            {
                return;
            }
            var buffer = context.RentBuffer(ReadHeaderSize + length);
            await volume.ReadAsync(offset, buffer.AsMemory(ReadHeaderSize, length), cancellationToken);
            SetReadReply(context, buffer);
            return;
        }

        // a large read: holes are sent as holes, without reading them
        IReadOnlyList<BlockStatus> statuses;
        try
        {
            statuses = await volume.GetBlockStatusAsync(offset, length, cancellationToken);
        }
        catch (StoragePoolException)
        {
            statuses = [];
        }
        var runs = ArrayPool<Run>.Shared.Rent(MaxReadChunks);
        try
        {
            var count = Describe(statuses, offset, length, runs.AsSpan(0, MaxReadChunks), NbdAllocationFlags.Zero, coverAll: true);
            if (count == 1 && runs[0].Flags == NbdAllocationFlags.None && TrySetFileReply(context, volume))
            {
                return;
            }
            var buffer = context.RentBuffer(length + (count * NbdLimits.HoleChunkSize));
            var position = 0;
            var last = 0;
            var at = offset;
            for (var i = 0; i < count; i++)
            {
                var run = runs[i];
                var runLength = (int)run.Length;
                last = position;
                if ((run.Flags & NbdAllocationFlags.Zero) != 0)
                {
                    NbdCodec.WriteHoleChunk(buffer.AsSpan(position), NbdReplyFlags.None, request.Handle, (ulong)at, (uint)runLength);
                    position += NbdLimits.HoleChunkSize;
                }
                else
                {
                    await volume.ReadAsync(at, buffer.AsMemory(position + NbdLimits.DataChunkHeaderSize, runLength), cancellationToken);
                    position += Chunk(buffer, position, request.Handle, at, runLength, zeroAsHole: true, NbdReplyFlags.None);
                }
                at += runLength;
            }
            NbdCodec.SetChunkFlags(buffer.AsSpan(last), NbdReplyFlags.Done);
            context.Reply = buffer.AsMemory(0, position);
        }
        finally
        {
            ArrayPool<Run>.Shared.Return(runs);
        }
    }

    /// <summary>
    /// Turns <paramref name="length"/> bytes of data read at <paramref name="position"/> + 28 into one chunk:
    /// OFFSET_DATA, or OFFSET_HOLE when they are all zero and holes are allowed. Returns the chunk's size.
    /// </summary>
    private static int Chunk(byte[] buffer, int position, ulong handle, long offset, int length, bool zeroAsHole, NbdReplyFlags flags)
    {
        if (zeroAsHole && !buffer.AsSpan(position + NbdLimits.DataChunkHeaderSize, length).ContainsAnyExcept((byte)0))
        {
            NbdCodec.WriteHoleChunk(buffer.AsSpan(position), flags, handle, (ulong)offset, (uint)length);
            return NbdLimits.HoleChunkSize;
        }
        NbdCodec.WriteDataChunkHeader(buffer.AsSpan(position), flags, handle, (ulong)offset, length);
        return NbdLimits.DataChunkHeaderSize + length;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask BlockStatusAsync(RequestContext context, IBlockVolume volume, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var statuses = await volume.GetBlockStatusAsync((long)request.Offset, request.Length, cancellationToken);
        var max = (request.Flags & NbdCommandFlags.RequestOne) != 0 ? 1 : MaxBlockDescriptors;
        var runs = ArrayPool<Run>.Shared.Rent(max);
        try
        {
            var count = Describe(statuses, (long)request.Offset, request.Length, runs.AsSpan(0, max),
                NbdAllocationFlags.Hole | NbdAllocationFlags.Zero, coverAll: false);
            if (count == 0)
            {
                // the volume said nothing about the start: "unknown" is always a true answer
                runs[0] = new Run(request.Length, NbdAllocationFlags.None);
                count = 1;
            }
            var payload = 4 + (8 * count);
            var buffer = context.RentBuffer(NbdLimits.ChunkHeaderSize + payload);
            NbdCodec.WriteChunkHeader(buffer, NbdReplyFlags.Done, NbdReplyType.BlockStatus, request.Handle, (uint)payload);
            NbdCodec.WriteBlockStatusContext(buffer.AsSpan(NbdLimits.ChunkHeaderSize), BaseAllocationContextId);
            for (var i = 0; i < count; i++)
            {
                NbdCodec.WriteBlockDescriptor(buffer.AsSpan(NbdLimits.ChunkHeaderSize + 4 + (8 * i)),
                    new NbdBlockDescriptor((uint)runs[i].Length, runs[i].Flags));
            }
            context.Reply = buffer.AsMemory(0, NbdLimits.ChunkHeaderSize + payload);
        }
        finally
        {
            ArrayPool<Run>.Shared.Return(runs);
        }
    }

    /// <summary>
    /// Describes [<paramref name="offset"/>, +<paramref name="length"/>) from the volume's runs as consecutive extents
    /// with the flags in <paramref name="mask"/>, merging neighbours that look the same. A part the volume did not
    /// describe counts as data. When <paramref name="output"/> fills up: with <paramref name="coverAll"/> the last
    /// extent becomes data up to the end, otherwise the description stops short (the client asks again).
    /// </summary>
    internal static int Describe(IReadOnlyList<BlockStatus> statuses, long offset, long length, Span<Run> output,
        NbdAllocationFlags mask, bool coverAll)
    {
        var end = offset + length;
        var cursor = offset;
        var count = 0;
        var full = false;
        for (var i = 0; i < statuses.Count && cursor < end && !full; i++)
        {
            var status = statuses[i];
            var statusEnd = status.Offset + status.Length;
            if (status.Length <= 0 || statusEnd <= cursor)
            {
                continue;
            }
            if (status.Offset > cursor)
            {
                var gapEnd = Math.Min(status.Offset, end);
                full = !Add(output, ref count, gapEnd - cursor, NbdAllocationFlags.None, coverAll);
                cursor = gapEnd;
                if (full || cursor >= end)
                {
                    break;
                }
            }
            var flags = ((status.Hole ? NbdAllocationFlags.Hole : 0) | (status.Zero ? NbdAllocationFlags.Zero : 0)) & mask;
            var take = Math.Min(statusEnd, end) - cursor;
            full = !Add(output, ref count, take, flags, coverAll);
            cursor += take;
        }
        if (coverAll && cursor < end)
        {
            Add(output, ref count, end - cursor, NbdAllocationFlags.None, coverAll);
        }
        return count;
    }

    private static bool Add(Span<Run> output, ref int count, long length, NbdAllocationFlags flags, bool coverAll)
    {
        if (count > 0 && output[count - 1].Flags == flags)
        {
            output[count - 1] = output[count - 1] with { Length = output[count - 1].Length + length };
            return true;
        }
        if (count < output.Length)
        {
            output[count++] = new Run(length, flags);
            return true;
        }
        if (coverAll)
        {
            // out of room: what is left is sent as data (reading a hole gives zeros, so this stays true)
            output[count - 1] = new Run(output[count - 1].Length + length, NbdAllocationFlags.None);
            return true;
        }
        return false;
    }

    /// <summary>The reply to a request that needed no work: success, with an empty read being a lone final chunk.</summary>
    private void SetEmptySuccess(RequestContext context)
    {
        if (_structuredReplies && context.Request.Command == NbdCommand.Read)
        {
            NbdCodec.WriteChunkHeader(context.Small, NbdReplyFlags.Done, NbdReplyType.None, context.Request.Handle, 0);
            context.Reply = context.Small.AsMemory(0, NbdLimits.ChunkHeaderSize);
            return;
        }
        SetSimpleReply(context, NbdError.None);
    }

    private static void SetSimpleReply(RequestContext context, NbdError error)
    {
        NbdCodec.WriteSimpleReply(context.Small, error, context.Request.Handle);
        context.Reply = context.Small.AsMemory(0, NbdLimits.SimpleReplySize);
    }

    /// <summary>An error reply: an ERROR chunk with the message when structured replies are on, else a simple reply.</summary>
    private void SetError(RequestContext context, NbdError error, string message)
    {
        if (!_structuredReplies)
        {
            SetSimpleReply(context, error);
            return;
        }
        var length = NbdCodec.WriteErrorChunk(context.Small, NbdReplyFlags.Done, context.Request.Handle, error, message);
        context.Reply = context.Small.AsMemory(0, length);
    }

    /// <summary>An extent: its length and its <c>base:allocation</c> flags.</summary>
    internal readonly record struct Run(long Length, NbdAllocationFlags Flags);
}
