using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using StoragePool.Core.Errors;
using StoragePool.Core.Threading;
using StoragePool.Interop;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Tcp;

/// <summary>
/// The receiving end of transfer data channels: a TCP listener; each connection says hello (token, transfer id)
/// and then sends chunk frames, each read straight into a chunk buffer with large reads, verified and written by
/// the transfer's <see cref="ChunkReceiver"/>, and acknowledged. A damaged chunk is answered with its error and the
/// connection goes on; a malformed frame ends the connection. Every loop ends when the server is disposed.
/// </summary>
public sealed partial class DataChannelServer : IAsyncDisposable
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _listener;
    private readonly byte[] _token;
    private readonly X509Certificate2? _certificate;
    private readonly Func<string, ChunkReceiver> _receiverOf;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private Task? _accepting;

    /// <param name="certificate">when given, every connection is TLS (1.2 or 1.3) from its first byte.</param>
    /// <param name="receiverOf">the receiver of a transfer id; throws (JobNotFound) for one that is not being received.</param>
    public DataChannelServer(IPEndPoint endpoint, string token, X509Certificate2? certificate, Func<string, ChunkReceiver> receiverOf, ILogger logger)
    {
        _token = Encoding.UTF8.GetBytes(token);
        _certificate = certificate;
        _receiverOf = receiverOf;
        _logger = logger;
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(endpoint);
        _listener.Listen(64);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public void Start() => _accepting = AcceptLoopAsync();

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            socket.NoDelay = true;
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var peer = socket.RemoteEndPoint?.ToString() ?? "?";
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            ChunkReceiver receiver;
            using (var hello = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                hello.CancelAfter(HelloTimeout);
                if (_certificate is not null)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = tls;
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    }, hello.Token);
                }
                var (token, id) = await DataChannel.ReadHelloAsync(stream, hello.Token);
                if (!CryptographicOperations.FixedTimeEquals(token, _token))
                {
                    await stream.WriteAsync(DataChannel.EncodeAck(-1, ErrorCode.Unauthorized, "wrong token for the transfer data channel"), _stop.Token);
                    return;
                }
                receiver = _receiverOf(id);
                await stream.WriteAsync(DataChannel.EncodeAck(-1, null, null), _stop.Token);
            }
            var header = new byte[ChunkRecord.HeaderSize];
            // aligned, so that chunks go to the disk from here without a copy into the page cache (uncached writes)
            var payload = AlignedBuffer.Allocate(Zstd.CompressBound(receiver.Layout.ChunkSize));
            while (true)
            {
                try
                {
                    await stream.ReadExactlyAsync(header, _stop.Token);
                }
                catch (EndOfStreamException)
                {
                    return; // the sender is done with this connection
                }
                var record = ChunkRecord.Read(header);
                record.Validate(receiver.Layout);
                await stream.ReadExactlyAsync(payload[..record.PayloadLength], _stop.Token);
                // the chunk's write blocks in the disk (on the event thread, the writes of all connections went to
                // the disk one at a time)
                await EventThread.LeaveAsync();
                byte[] ack;
                try
                {
                    await receiver.ReceiveAsync(record, payload[..record.PayloadLength], _stop.Token);
                    ack = DataChannel.EncodeAck(record.Index, null, null);
                }
                catch (StoragePoolException e) when (e.Code != ErrorCode.InvalidArgument)
                {
                    ack = DataChannel.EncodeAck(record.Index, e.Code, e.Message);
                }
                await stream.WriteAsync(ack, _stop.Token);
            }
        }
        catch (StoragePoolException e)
        {
            LogRefused(peer, e.Message);
            await TryWriteAsync(stream, DataChannel.EncodeAck(-1, e.Code, e.Message));
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException
            or ObjectDisposedException or AuthenticationException)
        {
            LogDropped(peer, e.Message);
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static async Task TryWriteAsync(Stream stream, byte[] bytes)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await stream.WriteAsync(bytes, timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // the peer is gone; nothing to tell it
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        if (_accepting is not null)
        {
            await _accepting;
        }
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections);
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 6020, Level = LogLevel.Warning, Message = "Transfer data connection from {Peer} refused: {Reason}")]
    private partial void LogRefused(string peer, string reason);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Information, Message = "Transfer data connection from {Peer} ended: {Reason}")]
    private partial void LogDropped(string peer, string reason);
}
