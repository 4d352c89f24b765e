using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using StoragePool.Nbd.Protocol;

namespace StoragePool.Nbd.Tests.Support;

/// <summary>One option reply as the client received it.</summary>
internal sealed record OptionReply(NbdOption Option, NbdOptionReply Type, byte[] Payload);

/// <summary>What the server answered to one request, checked against the protocol as it was assembled.</summary>
internal sealed record NbdReply(ulong Handle, NbdError Error, string? Message, byte[]? Data, NbdBlockDescriptor[]? Descriptors,
    int HoleChunks, int DataChunks);

/// <summary>
/// A small NBD client for tests, written with the server's own codec (the wire format exists once): the
/// handshake step by step or in one call, requests sent without waiting, replies matched to requests by
/// handle in whatever order they come, and raw bytes for tests that break the protocol on purpose. Every
/// reply is checked (magic, handles, chunk bounds, DONE) and a violation throws.
/// </summary>
internal sealed class NbdTestClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Dictionary<ulong, NbdRequest> _pending = [];
    private readonly Dictionary<ulong, Assembly> _partial = [];
    /// <summary>How long one read or write may wait: a server that hangs fails the test, not CI's time budget.</summary>
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(30);

    private Stream _stream;
    private ulong _nextHandle = 1;

    private NbdTestClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public NbdHandshakeFlags ServerFlags { get; private set; }

    public ulong Size { get; private set; }

    public NbdTransmissionFlags TransmissionFlags { get; private set; }

    public bool StructuredReplies { get; private set; }

    public uint MaxBlock { get; private set; }

    public uint MetaContextId { get; private set; }

    public static async Task<NbdTestClient> ConnectAsync(string unixSocket)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(unixSocket));
        return new NbdTestClient(socket);
    }

    public static async Task<NbdTestClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new NbdTestClient(socket);
    }

    /// <summary>Connects, agrees on structured replies and base:allocation, and enters transmission with GO.</summary>
    public static async Task<NbdTestClient> OpenAsync(string unixSocket, string export, bool structured = true)
    {
        var client = await ConnectAsync(unixSocket);
        try
        {
            await client.GreetAsync();
            await client.GoAsync(export, structured);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    // ---- handshake ----

    /// <summary>Reads the greeting and answers with fixed newstyle and no zeroes.</summary>
    public async Task GreetAsync(uint clientFlags = (uint)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes))
    {
        var greeting = await ReadExactlyAsync(NbdLimits.GreetingSize);
        if (!NbdCodec.TryReadGreeting(greeting, out var flags))
        {
            throw new InvalidDataException("bad greeting magic");
        }
        ServerFlags = flags;
        var reply = new byte[4];
        NbdCodec.WriteClientFlags(reply, clientFlags);
        await WriteRawAsync(reply);
    }

    public async Task SendOptionAsync(NbdOption option, ReadOnlyMemory<byte> data)
    {
        var frame = new byte[NbdLimits.OptionHeaderSize + data.Length];
        NbdCodec.WriteOptionHeader(frame, option, (uint)data.Length);
        data.Span.CopyTo(frame.AsSpan(NbdLimits.OptionHeaderSize));
        await WriteRawAsync(frame);
    }

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        var header = NbdCodec.ReadOptionReplyHeader(await ReadExactlyAsync(NbdLimits.OptionReplyHeaderSize));
        if (header.Magic != NbdMagic.OptionReply)
        {
            throw new InvalidDataException($"bad option reply magic 0x{header.Magic:x16}");
        }
        if (header.Length > 1 << 20)
        {
            throw new InvalidDataException($"option reply of {header.Length} bytes");
        }
        return new OptionReply(header.Option, header.Reply, await ReadExactlyAsync((int)header.Length));
    }

    /// <summary>Sends an option and reads its replies up to the final one (ACK or an error).</summary>
    public async Task<List<OptionReply>> OptionAsync(NbdOption option, ReadOnlyMemory<byte> data = default)
    {
        await SendOptionAsync(option, data);
        var replies = new List<OptionReply>();
        while (true)
        {
            var reply = await ReadOptionReplyAsync();
            if (reply.Option != option)
            {
                throw new InvalidDataException($"reply for {reply.Option} to {option}");
            }
            replies.Add(reply);
            if (reply.Type == NbdOptionReply.Ack || reply.Type.IsError())
            {
                return replies;
            }
        }
    }

    public async Task<List<string>> ListAsync()
    {
        var replies = await OptionAsync(NbdOption.List);
        Expect(replies[^1], NbdOptionReply.Ack);
        return [.. replies.Where(r => r.Type == NbdOptionReply.Server).Select(r =>
            NbdCodec.TryReadServerPayload(r.Payload, out var name) ? name : throw new InvalidDataException("bad NBD_REP_SERVER"))];
    }

    /// <summary>STARTTLS and the TLS handshake, trusting <paramref name="ca"/> only.</summary>
    public async Task StartTlsAsync(X509Certificate2 ca, string host = "localhost")
    {
        var replies = await OptionAsync(NbdOption.StartTls);
        Expect(replies[^1], NbdOptionReply.Ack);
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { ca },
                RevocationMode = X509RevocationMode.NoCheck,
            },
        });
        _stream = ssl;
    }

    public async Task NegotiateStructuredAsync(string export)
    {
        Expect((await OptionAsync(NbdOption.StructuredReply))[^1], NbdOptionReply.Ack);
        StructuredReplies = true;
        var data = new byte[NbdCodec.MetaContextRequestSize(export, [NbdLimits.BaseAllocation])];
        NbdCodec.WriteMetaContextRequest(data, export, [NbdLimits.BaseAllocation]);
        var replies = await OptionAsync(NbdOption.SetMetaContext, data);
        Expect(replies[^1], NbdOptionReply.Ack);
        foreach (var reply in replies.Where(r => r.Type == NbdOptionReply.MetaContext))
        {
            if (NbdCodec.TryReadMetaContext(reply.Payload, out var id, out var name) && name == NbdLimits.BaseAllocation)
            {
                MetaContextId = id;
            }
        }
    }

    /// <summary>NBD_OPT_INFO or NBD_OPT_GO with a block size request; returns all replies.</summary>
    public async Task<List<OptionReply>> InfoAsync(NbdOption option, string export)
    {
        var data = new byte[NbdCodec.InfoRequestSize(export, 2)];
        NbdCodec.WriteInfoRequest(data, export, [NbdInfo.BlockSize, NbdInfo.Name]);
        var replies = await OptionAsync(option, data);
        foreach (var reply in replies.Where(r => r.Type == NbdOptionReply.Info))
        {
            switch (NbdCodec.ReadInfoType(reply.Payload))
            {
                case NbdInfo.Export when NbdCodec.TryReadInfoExport(reply.Payload, out var size, out var flags):
                    Size = size;
                    TransmissionFlags = flags;
                    break;
                case NbdInfo.BlockSize when NbdCodec.TryReadInfoBlockSize(reply.Payload, out _, out _, out var maximum):
                    MaxBlock = maximum;
                    break;
            }
        }
        return replies;
    }

    public async Task GoAsync(string export, bool structured = true)
    {
        if (structured)
        {
            await NegotiateStructuredAsync(export);
        }
        var replies = await InfoAsync(NbdOption.Go, export);
        if (replies[^1].Type != NbdOptionReply.Ack)
        {
            throw new NbdOptionException(replies[^1]);
        }
    }

    private static void Expect(OptionReply reply, NbdOptionReply type)
    {
        if (reply.Type != type)
        {
            throw new NbdOptionException(reply);
        }
    }

    // ---- transmission ----

    /// <summary>Sends a request (and its payload) without waiting; returns its handle.</summary>
    public async Task<ulong> SendAsync(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = 0,
        ReadOnlyMemory<byte> payload = default)
    {
        var handle = _nextHandle++;
        var request = new NbdRequest(flags, command, handle, offset, length);
        var frame = new byte[NbdLimits.RequestSize + payload.Length];
        NbdCodec.WriteRequest(frame, request);
        payload.Span.CopyTo(frame.AsSpan(NbdLimits.RequestSize));
        if (command != NbdCommand.Disconnect)
        {
            _pending[handle] = request;
        }
        await WriteRawAsync(frame);
        return handle;
    }

    /// <summary>Reads replies until one request is complete, and returns it (whichever it is).</summary>
    public async Task<NbdReply> ReceiveAsync()
    {
        while (true)
        {
            var head = await ReadExactlyAsync(4);
            var magic = NbdCodec.ReadReplyMagic(head);
            if (magic == NbdMagic.SimpleReply)
            {
                var rest = await ReadExactlyAsync(NbdLimits.SimpleReplySize - 4);
                var whole = new byte[NbdLimits.SimpleReplySize];
                head.CopyTo(whole, 0);
                rest.CopyTo(whole, 4);
                var (error, handle) = NbdCodec.ReadSimpleReply(whole);
                var request = Take(handle);
                if (request.Command == NbdCommand.Read && StructuredReplies)
                {
                    throw new InvalidDataException("a simple reply to a read after structured replies were agreed");
                }
                byte[]? data = null;
                if (request.Command == NbdCommand.Read && error == NbdError.None)
                {
                    data = await ReadExactlyAsync((int)request.Length);
                }
                return new NbdReply(handle, error, null, data, null, 0, data is null ? 0 : 1);
            }
            if (magic != NbdMagic.StructuredReply)
            {
                throw new InvalidDataException($"bad reply magic 0x{magic:x8}");
            }
            if (!StructuredReplies)
            {
                throw new InvalidDataException("a structured reply without structured replies agreed");
            }
            var tail = await ReadExactlyAsync(NbdLimits.ChunkHeaderSize - 4);
            var headerBytes = new byte[NbdLimits.ChunkHeaderSize];
            head.CopyTo(headerBytes, 0);
            tail.CopyTo(headerBytes, 4);
            var chunk = NbdCodec.ReadChunkHeader(headerBytes);
            if (chunk.Length > 64u << 20)
            {
                throw new InvalidDataException($"chunk of {chunk.Length} bytes");
            }
            var payload = await ReadExactlyAsync((int)chunk.Length);
            if (!_pending.TryGetValue(chunk.Handle, out var pending))
            {
                throw new InvalidDataException($"reply for unknown handle {chunk.Handle}");
            }
            if (!_partial.TryGetValue(chunk.Handle, out var assembly))
            {
                assembly = _partial[chunk.Handle] = new Assembly(pending);
            }
            assembly.Add(chunk, payload);
            if ((chunk.Flags & NbdReplyFlags.Done) != 0)
            {
                _partial.Remove(chunk.Handle);
                Take(chunk.Handle);
                return assembly.Finish();
            }
        }
    }

    /// <summary>Sends a request and waits for its reply (no other request may be in flight).</summary>
    public async Task<NbdReply> RequestAsync(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = 0,
        ReadOnlyMemory<byte> payload = default)
    {
        var handle = await SendAsync(command, offset, length, flags, payload);
        var reply = await ReceiveAsync();
        if (reply.Handle != handle)
        {
            throw new InvalidDataException($"reply for {reply.Handle} while waiting for {handle}");
        }
        return reply;
    }

    public async Task<byte[]> ReadAsync(long offset, int length, NbdCommandFlags flags = 0)
    {
        var reply = await RequestAsync(NbdCommand.Read, (ulong)offset, (uint)length, flags);
        return reply.Error == NbdError.None ? reply.Data! : throw new NbdRequestException(reply);
    }

    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, NbdCommandFlags flags = 0) =>
        Check(await RequestAsync(NbdCommand.Write, (ulong)offset, (uint)data.Length, flags, data));

    public async Task TrimAsync(long offset, long length, NbdCommandFlags flags = 0) =>
        Check(await RequestAsync(NbdCommand.Trim, (ulong)offset, (uint)length, flags));

    public async Task ZeroAsync(long offset, long length, NbdCommandFlags flags = 0) =>
        Check(await RequestAsync(NbdCommand.WriteZeroes, (ulong)offset, (uint)length, flags));

    public async Task FlushAsync() => Check(await RequestAsync(NbdCommand.Flush, 0, 0));

    public async Task<NbdBlockDescriptor[]> BlockStatusAsync(long offset, long length, NbdCommandFlags flags = 0)
    {
        var reply = await RequestAsync(NbdCommand.BlockStatus, (ulong)offset, (uint)length, flags);
        return reply.Error == NbdError.None ? reply.Descriptors! : throw new NbdRequestException(reply);
    }

    /// <summary>NBD_CMD_DISC, then waits for the server to close the connection.</summary>
    public async Task DisconnectAsync()
    {
        await SendAsync(NbdCommand.Disconnect, 0, 0);
        if (!await IsClosedByServerAsync(TimeSpan.FromSeconds(10)))
        {
            throw new InvalidDataException("the server did not close the connection after NBD_CMD_DISC");
        }
    }

    // ---- raw ----

    public async Task WriteRawAsync(ReadOnlyMemory<byte> bytes)
    {
        using var limit = new CancellationTokenSource(TimeLimit);
        try
        {
            await _stream.WriteAsync(bytes, limit.Token);
            await _stream.FlushAsync(limit.Token);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            throw new TimeoutException($"the server took no more bytes for {TimeLimit.TotalSeconds:0} s ({bytes.Length} to send)");
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        var buffer = new byte[count];
        using var limit = new CancellationTokenSource(TimeLimit);
        try
        {
            await _stream.ReadExactlyAsync(buffer, limit.Token);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            throw new TimeoutException($"the server sent nothing more for {TimeLimit.TotalSeconds:0} s (waiting for {count} bytes)");
        }
        return buffer;
    }

    /// <summary>Whatever the server has sent, up to <paramref name="buffer"/>'s length; 0 at end of stream.</summary>
    public ValueTask<int> ReadSomeAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _stream.ReadAsync(buffer, cancellationToken);

    /// <summary>True when the server closes the connection (EOF or reset) within <paramref name="timeout"/>; bytes it sends first are dropped.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(buffer, cancel.Token) > 0)
            {
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Closes only the sending half: the server sees end of file, the client can still read.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }

    private static void Check(NbdReply reply)
    {
        if (reply.Error != NbdError.None)
        {
            throw new NbdRequestException(reply);
        }
    }

    private NbdRequest Take(ulong handle)
    {
        if (!_pending.Remove(handle, out var request))
        {
            throw new InvalidDataException($"reply for unknown handle {handle}");
        }
        return request;
    }

    /// <summary>The chunks of one structured reply so far, checked as they come.</summary>
    private sealed class Assembly(NbdRequest request)
    {
        private readonly byte[]? _data = request.Command == NbdCommand.Read ? new byte[request.Length] : null;
        private readonly List<(long Start, long End)> _covered = [];
        private NbdError _error;
        private string? _message;
        private NbdBlockDescriptor[]? _descriptors;
        private int _holes;
        private int _datas;

        public void Add(NbdChunkHeader chunk, byte[] payload)
        {
            switch (chunk.Type)
            {
                case NbdReplyType.None:
                    if (payload.Length != 0 || (chunk.Flags & NbdReplyFlags.Done) == 0)
                    {
                        throw new InvalidDataException("NBD_REPLY_TYPE_NONE with a payload or without DONE");
                    }
                    break;
                case NbdReplyType.OffsetData:
                    if (payload.Length < 9)
                    {
                        throw new InvalidDataException("OFFSET_DATA shorter than 9 bytes");
                    }
                    Cover(NbdCodec.ReadDataOffset(payload), payload.Length - 8, payload.AsSpan(8));
                    _datas++;
                    break;
                case NbdReplyType.OffsetHole:
                    if (payload.Length != 12)
                    {
                        throw new InvalidDataException("OFFSET_HOLE not 12 bytes");
                    }
                    var (offset, size) = NbdCodec.ReadHolePayload(payload);
                    if (size == 0)
                    {
                        throw new InvalidDataException("OFFSET_HOLE of 0 bytes");
                    }
                    Cover(offset, size, default);
                    _holes++;
                    break;
                case NbdReplyType.BlockStatus:
                    if (request.Command != NbdCommand.BlockStatus || _descriptors is not null
                        || !NbdCodec.TryReadBlockStatus(payload, out _, out var descriptors))
                    {
                        throw new InvalidDataException("bad or unexpected BLOCK_STATUS chunk");
                    }
                    if (descriptors.Any(d => d.Length == 0))
                    {
                        throw new InvalidDataException("a block descriptor of length 0");
                    }
                    _descriptors = descriptors;
                    break;
                case NbdReplyType.Error or NbdReplyType.ErrorOffset:
                    if (!NbdCodec.TryReadErrorPayload(payload, out _error, out _message) || _error == NbdError.None)
                    {
                        throw new InvalidDataException("bad error chunk");
                    }
                    break;
                default:
                    throw new InvalidDataException($"unknown chunk type {chunk.Type}");
            }
        }

        public NbdReply Finish()
        {
            if (_error == NbdError.None)
            {
                if (_data is not null && _covered.Sum(c => c.End - c.Start) != _data.Length)
                {
                    throw new InvalidDataException("a successful read did not cover its whole range");
                }
                if (request.Command == NbdCommand.BlockStatus && _descriptors is null)
                {
                    throw new InvalidDataException("a successful block status without a BLOCK_STATUS chunk");
                }
            }
            return new NbdReply(request.Handle, _error, _message, _error == NbdError.None ? _data : null, _descriptors, _holes, _datas);
        }

        private void Cover(ulong offset, long length, ReadOnlySpan<byte> data)
        {
            if (_data is null || offset < request.Offset || offset + (ulong)length > request.Offset + request.Length)
            {
                throw new InvalidDataException($"content chunk {offset}+{length} outside the read {request.Offset}+{request.Length}");
            }
            var start = (int)(offset - request.Offset);
            if (_covered.Any(c => c.Start < start + length && start < c.End))
            {
                throw new InvalidDataException("overlapping content chunks");
            }
            _covered.Add((start, start + length));
            data.CopyTo(_data.AsSpan(start));
        }
    }
}

internal sealed class NbdOptionException(OptionReply reply)
    : Exception($"{NbdNames.Of(reply.Option)} answered {NbdNames.Of(reply.Type)}: {System.Text.Encoding.UTF8.GetString(reply.Payload)}")
{
    public OptionReply Reply { get; } = reply;
}

internal sealed class NbdRequestException(NbdReply reply)
    : Exception($"request {reply.Handle} failed with {NbdNames.Of(reply.Error)}: {reply.Message}")
{
    public NbdReply Reply { get; } = reply;
}
