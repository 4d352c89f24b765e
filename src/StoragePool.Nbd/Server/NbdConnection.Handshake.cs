using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using StoragePool.Core.Errors;
using StoragePool.Core.Threading;
using StoragePool.Nbd.Protocol;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

// Fixed newstyle option haggling: every option is answered, an unknown one with NBD_REP_ERR_UNSUP;
// a frame that cannot be parsed past (bad magic, oversized option) ends the connection.
internal sealed partial class NbdConnection
{
    /// <summary>Option data beyond this is not read: the client is dropped (the spec allows it for denial of service).</summary>
    private const int MaxOptionBytes = 64 << 10;

    /// <summary>Room for an option reply: header plus the largest payload we send (a 4096-byte string and its length).</summary>
    private const int OptionReplyBufferSize = 8 << 10;

    /// <summary>The id of <c>base:allocation</c> once selected (any non-zero value would do).</summary>
    private const uint BaseAllocationContextId = 1;

    private bool _noZeroes;
    private bool _structuredReplies;

    /// <summary>The export named by the last NBD_OPT_SET_META_CONTEXT that selected <c>base:allocation</c>.</summary>
    private string? _metaContextExport;

    private bool _blockStatus;

    private async Task<bool> NegotiateAsync(CancellationToken stopReading)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopReading);
        timeout.CancelAfter(_options.HandshakeTimeout);
        var data = ArrayPool<byte>.Shared.Rent(MaxOptionBytes);
        var reply = ArrayPool<byte>.Shared.Rent(OptionReplyBufferSize);
        try
        {
            return await HandshakeAsync(data, reply, timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !stopReading.IsCancellationRequested)
        {
            _logger.HandshakeFailed(_id, $"no export was chosen within {_options.HandshakeTimeout.TotalSeconds:0} s");
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(reply);
            ArrayPool<byte>.Shared.Return(data);
        }
    }

    private async Task<bool> HandshakeAsync(byte[] data, byte[] reply, CancellationToken cancellationToken)
    {
        NbdCodec.WriteGreeting(reply, NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        await _stream.WriteAsync(reply.AsMemory(0, NbdLimits.GreetingSize), cancellationToken);
        if (!await _reader.EnsureAsync(NbdLimits.ClientFlagsSize, cancellationToken))
        {
            return false;
        }
        var clientFlags = NbdCodec.ReadClientFlags(_reader.Span);
        _reader.Advance(NbdLimits.ClientFlagsSize);
        const uint known = (uint)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        if ((clientFlags & ~known) != 0)
        {
            _logger.HandshakeFailed(_id, $"unknown client flags 0x{clientFlags:x8}");
            return false;
        }
        var fixedNewstyle = (clientFlags & (uint)NbdHandshakeFlags.FixedNewstyle) != 0;
        _noZeroes = (clientFlags & (uint)NbdHandshakeFlags.NoZeroes) != 0;
        if (_tls.Required && !fixedNewstyle)
        {
            _logger.HandshakeFailed(_id, "TLS is required here but the client does not speak fixed newstyle, so it cannot start TLS");
            return false;
        }

        while (true)
        {
            if (!await _reader.EnsureAsync(NbdLimits.OptionHeaderSize, cancellationToken))
            {
                return false;
            }
            var header = NbdCodec.ReadOptionHeader(_reader.Span);
            _reader.Advance(NbdLimits.OptionHeaderSize);
            if (header.Magic != NbdMagic.Option)
            {
                _logger.HandshakeFailed(_id, $"bad option magic 0x{header.Magic:x16}");
                return false;
            }
            if (header.Length > MaxOptionBytes)
            {
                _logger.HandshakeFailed(_id,
                    $"{NbdNames.Of(header.Option)} carries {header.Length} bytes of data; at most {MaxOptionBytes} are accepted");
                return false;
            }
            var payload = data.AsMemory(0, (int)header.Length);
            await _reader.ReadExactlyAsync(payload, cancellationToken);
            var option = header.Option;

            if (_tls.Required && _sslStream is null && option is not (NbdOption.StartTls or NbdOption.Abort))
            {
                if (option == NbdOption.ExportName)
                {
                    _logger.HandshakeFailed(_id, "NBD_OPT_EXPORT_NAME before TLS was started, and TLS is required here");
                    return false;
                }
                await RefuseAsync(reply, option, NbdOptionReply.ErrTlsRequired,
                    "TLS is required on this endpoint; start it with NBD_OPT_STARTTLS first", cancellationToken);
                continue;
            }

            switch (option)
            {
                case NbdOption.ExportName:
                    return await ExportNameAsync(payload, reply, cancellationToken);
                case NbdOption.Abort:
                    try
                    {
                        await ReplyAsync(reply, option, NbdOptionReply.Ack, 0, cancellationToken);
                    }
                    catch (IOException)
                    {
                        // the client may close without waiting for the reply
                    }
                    return false;
                case NbdOption.List:
                    await ListAsync(payload, reply, cancellationToken);
                    break;
                case NbdOption.StartTls:
                    if (!await StartTlsAsync(payload, reply, fixedNewstyle, cancellationToken))
                    {
                        return false;
                    }
                    break;
                case NbdOption.Info:
                case NbdOption.Go:
                    if (await InfoAsync(option, payload, reply, cancellationToken))
                    {
                        return true;
                    }
                    break;
                case NbdOption.StructuredReply:
                    if (payload.Length != 0)
                    {
                        await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY carries no data", cancellationToken);
                        break;
                    }
                    _structuredReplies = true;
                    await ReplyAsync(reply, option, NbdOptionReply.Ack, 0, cancellationToken);
                    break;
                case NbdOption.ListMetaContext:
                case NbdOption.SetMetaContext:
                    await MetaContextAsync(option, payload, reply, cancellationToken);
                    break;
                default:
                    await RefuseAsync(reply, option, NbdOptionReply.ErrUnsupported,
                        $"{NbdNames.Of(option)} is not supported by this server", cancellationToken);
                    break;
            }
        }
    }

    private async Task<bool> ExportNameAsync(ReadOnlyMemory<byte> payload, byte[] reply, CancellationToken cancellationToken)
    {
        if (!NbdCodec.TryDecodeString(payload.Span, out var name))
        {
            _logger.HandshakeFailed(_id, "NBD_OPT_EXPORT_NAME names no valid export (not UTF-8, or longer than 4096 bytes)");
            return false;
        }
        IExportLease lease;
        try
        {
            lease = await OpenExportAsync(name, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // NBD_OPT_EXPORT_NAME cannot be answered with an error: the spec says hang up
            _logger.HandshakeFailed(_id, $"export '{name}' cannot be served: {ex.Message}");
            return false;
        }
        var keep = false;
        try
        {
            var flags = TransmissionFlags(lease.Volume);
            var length = NbdLimits.ExportNameReplySize + (_noZeroes ? 0 : NbdLimits.ExportNameReplyPadding);
            reply.AsSpan(0, length).Clear();
            NbdCodec.WriteExportNameReply(reply, (ulong)lease.Volume.Size, flags);
            await _stream.WriteAsync(reply.AsMemory(0, length), cancellationToken);
            EnterTransmission(lease, name);
            keep = true;
            return true;
        }
        finally
        {
            if (!keep)
            {
                await ReleaseAsync(lease);
            }
        }
    }

    /// <summary>NBD_OPT_INFO or NBD_OPT_GO; true when GO succeeded and transmission begins.</summary>
    private async Task<bool> InfoAsync(NbdOption option, ReadOnlyMemory<byte> payload, byte[] reply, CancellationToken cancellationToken)
    {
        if (!NbdCodec.TryReadInfoRequest(payload.Span, out var name, out var requested))
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid,
                $"{NbdNames.Of(option)} is malformed: its lengths do not add up or the name is not a valid string", cancellationToken);
            return false;
        }
        IExportLease lease;
        try
        {
            lease = await OpenExportAsync(name, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var code = ex is StoragePoolException { Code: var c } ? c : ErrorCode.Internal;
            var refusal = code switch
            {
                ErrorCode.PermissionDenied or ErrorCode.Unauthorized => NbdOptionReply.ErrPolicy,
                ErrorCode.DaemonUnavailable => NbdOptionReply.ErrShutdown,
                _ => NbdOptionReply.ErrUnknown,
            };
            var message = ex is StoragePoolException ? ex.Message : $"export '{name}' cannot be opened; the server's log has the details";
            if (ex is not StoragePoolException)
            {
                _logger.ConnectionFailed(_id, ex);
            }
            await RefuseAsync(reply, option, refusal, message, cancellationToken);
            return false;
        }
        var keep = false;
        try
        {
            var volume = lease.Volume;
            var flags = TransmissionFlags(volume);
            var length = NbdCodec.WriteInfoExport(reply.AsSpan(NbdLimits.OptionReplyHeaderSize), (ulong)volume.Size, flags);
            await ReplyAsync(reply, option, NbdOptionReply.Info, length, cancellationToken);
            // sent whether asked or not: clients that did not ask ignore it, and the limits hold either way
            length = NbdCodec.WriteInfoBlockSize(reply.AsSpan(NbdLimits.OptionReplyHeaderSize), 1, 4096, (uint)_options.MaxRequestBytes);
            await ReplyAsync(reply, option, NbdOptionReply.Info, length, cancellationToken);
            if ((requested & (1u << (int)NbdInfo.Name)) != 0 && NbdCodec.StrictUtf8.GetByteCount(name) <= NbdLimits.MaxStringBytes)
            {
                length = NbdCodec.WriteInfoString(reply.AsSpan(NbdLimits.OptionReplyHeaderSize), NbdInfo.Name, name);
                await ReplyAsync(reply, option, NbdOptionReply.Info, length, cancellationToken);
            }
            if ((requested & (1u << (int)NbdInfo.Description)) != 0)
            {
                var description = volume.ReadOnly ? $"StoragePool snapshot {volume.Name} (read-only)" : $"StoragePool volume {volume.Name}";
                if (NbdCodec.StrictUtf8.GetByteCount(description) <= NbdLimits.MaxStringBytes)
                {
                    length = NbdCodec.WriteInfoString(reply.AsSpan(NbdLimits.OptionReplyHeaderSize), NbdInfo.Description, description);
                    await ReplyAsync(reply, option, NbdOptionReply.Info, length, cancellationToken);
                }
            }
            await ReplyAsync(reply, option, NbdOptionReply.Ack, 0, cancellationToken);
            if (option != NbdOption.Go)
            {
                return false;
            }
            EnterTransmission(lease, name);
            keep = true;
            return true;
        }
        finally
        {
            if (!keep)
            {
                await ReleaseAsync(lease);
            }
        }
    }

    private async Task ListAsync(ReadOnlyMemory<byte> payload, byte[] reply, CancellationToken cancellationToken)
    {
        if (payload.Length != 0)
        {
            await RefuseAsync(reply, NbdOption.List, NbdOptionReply.ErrInvalid, "NBD_OPT_LIST carries no data", cancellationToken);
            return;
        }
        IReadOnlyList<string> names;
        try
        {
            names = await ListExportsAsync(cancellationToken);
        }
        catch (StoragePoolException ex)
        {
            await RefuseAsync(reply, NbdOption.List, NbdOptionReply.ErrPolicy, ex.Message, cancellationToken);
            return;
        }
        foreach (var name in names)
        {
            if (NbdCodec.StrictUtf8.GetByteCount(name) > NbdLimits.MaxStringBytes)
            {
                continue;
            }
            var length = NbdCodec.WriteServerPayload(reply.AsSpan(NbdLimits.OptionReplyHeaderSize), name);
            await ReplyAsync(reply, NbdOption.List, NbdOptionReply.Server, length, cancellationToken);
        }
        await ReplyAsync(reply, NbdOption.List, NbdOptionReply.Ack, 0, cancellationToken);
    }

    /// <summary>NBD_OPT_STARTTLS; false when the TLS handshake failed and the connection must end.</summary>
    private async Task<bool> StartTlsAsync(ReadOnlyMemory<byte> payload, byte[] reply, bool fixedNewstyle, CancellationToken cancellationToken)
    {
        const NbdOption option = NbdOption.StartTls;
        if (payload.Length != 0)
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid, "NBD_OPT_STARTTLS carries no data", cancellationToken);
            return true;
        }
        if (_sslStream is not null)
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid, "TLS is already running", cancellationToken);
            return true;
        }
        if (_tls.Certificate is null || !fixedNewstyle)
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrPolicy,
                _tls.Certificate is null ? "this endpoint does not offer TLS" : "TLS needs the fixed newstyle handshake", cancellationToken);
            return true;
        }
        if (_reader.Buffered != 0)
        {
            _logger.HandshakeFailed(_id, "the client sent data after NBD_OPT_STARTTLS without waiting for the reply");
            return false;
        }
        await ReplyAsync(reply, option, NbdOptionReply.Ack, 0, cancellationToken);
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _tls.Certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, cancellationToken);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            _logger.TlsFailed(_id, ex);
            await ssl.DisposeAsync();
            return false;
        }
        _sslStream = ssl;
        _stream = ssl;
        _reader.SwitchTo(ssl);
        _logger.TlsStarted(_id, ssl.SslProtocol);
        // negotiation state does not survive STARTTLS
        _structuredReplies = false;
        _metaContextExport = null;
        return true;
    }

    private async Task MetaContextAsync(NbdOption option, ReadOnlyMemory<byte> payload, byte[] reply, CancellationToken cancellationToken)
    {
        var set = option == NbdOption.SetMetaContext;
        if (set)
        {
            // replaced even when this request fails
            _metaContextExport = null;
        }
        if (!_structuredReplies)
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid,
                "metadata contexts need structured replies; send NBD_OPT_STRUCTURED_REPLY first", cancellationToken);
            return;
        }
        if (!NbdCodec.TryReadMetaContextRequest(payload.Span, out var exportName, out var queries))
        {
            await RefuseAsync(reply, option, NbdOptionReply.ErrInvalid,
                $"{NbdNames.Of(option)} is malformed: its lengths do not add up or a string is invalid", cancellationToken);
            return;
        }
        // base:allocation is the one context we know; queries in other namespaces select nothing
        var selected = set
            ? queries.Contains(NbdLimits.BaseAllocation)
            : queries.Count == 0 || queries.Exists(q => q is NbdLimits.BaseNamespace or NbdLimits.BaseAllocation);
        if (selected)
        {
            var length = NbdCodec.WriteMetaContext(reply.AsSpan(NbdLimits.OptionReplyHeaderSize),
                set ? BaseAllocationContextId : 0, NbdLimits.BaseAllocation);
            await ReplyAsync(reply, option, NbdOptionReply.MetaContext, length, cancellationToken);
            if (set)
            {
                _metaContextExport = exportName;
            }
        }
        await ReplyAsync(reply, option, NbdOptionReply.Ack, 0, cancellationToken);
    }

    // The export provider's calls read metadata and open or close files, which may block; the handshake runs on the
    // socket's event thread, which serves every connection, so each leaves it first.

    private async ValueTask<IExportLease> OpenExportAsync(string name, CancellationToken cancellationToken)
    {
        await EventThread.LeaveAsync();
        return await _exports.OpenAsync(name, cancellationToken);
    }

    private async ValueTask<IReadOnlyList<string>> ListExportsAsync(CancellationToken cancellationToken)
    {
        await EventThread.LeaveAsync();
        return await _exports.ListAsync(cancellationToken);
    }

    private static async ValueTask ReleaseAsync(IExportLease lease)
    {
        await EventThread.LeaveAsync();
        await lease.DisposeAsync();
    }

    private NbdTransmissionFlags TransmissionFlags(IBlockVolume volume)
    {
        // CAN_MULTI_CONN: every connection to a volume shares its one page cache, and FlushAsync makes
        // every acknowledged write durable whichever connection made it
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.CanMultiConn
            | NbdTransmissionFlags.SendCache;
        flags |= volume.ReadOnly
            ? NbdTransmissionFlags.ReadOnly
            : NbdTransmissionFlags.SendFua | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes
                | NbdTransmissionFlags.SendFastZero;
        if (_structuredReplies)
        {
            flags |= NbdTransmissionFlags.SendDf;
        }
        return flags;
    }

    private void EnterTransmission(IExportLease lease, string name)
    {
        _lease = lease;
        _volume = lease.Volume;
        _export = name;
        _blockStatus = _structuredReplies && _metaContextExport == name;
        _window = new InFlightWindow(_options.MaxInFlightPerConnection, Math.Max(2L * _options.MaxRequestBytes, 64L << 20));
        // read data goes from the page cache to the socket by sendfile, unless TLS must encrypt it on the way
        _files = _sslStream is null ? new FileSender(_socket) : null;
        _sender = new ReplySender(_stream, _files, _options.MaxInFlightPerConnection, OnSendFailed);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.ExportOpened(_id, name, _volume.ReadOnly ? "read-only" : "read-write",
                _sslStream is null ? _endpoint : $"{_endpoint} with {_sslStream.SslProtocol}");
        }
    }

    /// <summary>Sends an option reply whose payload (<paramref name="length"/> bytes) is already in place after the header.</summary>
    private ValueTask ReplyAsync(byte[] reply, NbdOption option, NbdOptionReply type, int length, CancellationToken cancellationToken)
    {
        NbdCodec.WriteOptionReplyHeader(reply, option, type, (uint)length);
        return _stream.WriteAsync(reply.AsMemory(0, NbdLimits.OptionReplyHeaderSize + length), cancellationToken);
    }

    /// <summary>Answers an option with an error reply carrying <paramref name="message"/> for the user, and logs it.</summary>
    private ValueTask RefuseAsync(byte[] reply, NbdOption option, NbdOptionReply error, string message, CancellationToken cancellationToken)
    {
        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.OptionRefused(_id, NbdNames.Of(option), NbdNames.Of(error), message);
        }
        var room = reply.AsSpan(NbdLimits.OptionReplyHeaderSize, NbdLimits.MaxStringBytes);
        var length = Encoding.UTF8.GetByteCount(message) <= room.Length ? Encoding.UTF8.GetBytes(message, room) : 0;
        return ReplyAsync(reply, option, error, length, cancellationToken);
    }
}
