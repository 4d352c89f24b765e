using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using StoragePool.Nbd.Protocol;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

/// <summary>
/// One client: the handshake (<c>NbdConnection.Handshake.cs</c>), then the transmission phase
/// (<c>NbdConnection.Transmission.cs</c>) on the one export it chose. Whatever the client does, the
/// connection ends by itself, finishing or cutting what it has in flight, and never takes the server with it.
/// </summary>
internal sealed partial class NbdConnection : IDisposable
{
    private const int ReadBufferSize = 256 << 10;

    private const int SocketBufferSize = 4 << 20;

    private readonly long _id;
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly TlsPolicy _tls;
    private readonly string _endpoint;
    private readonly IExportProvider _exports;
    private readonly ILogger _logger;
    private readonly NbdServerOptions _options;
    private readonly FrameReader _reader;

    /// <summary>Cut: stops reading, cancels the volume calls in flight.</summary>
    private readonly CancellationTokenSource _abort = new();

    private readonly Stack<RequestContext> _freeContexts = new();

    /// <summary>Every context this connection made (no more than its window holds), for the watchdog to look at.</summary>
    private readonly List<RequestContext> _contexts = [];
    private readonly Lock _freeContextsLock = new();

    private Stream _stream;
    private SslStream? _sslStream;
    private IExportLease? _lease;
    private IBlockVolume? _volume;
    private string _export = "";
    private InFlightWindow? _window;
    private ReplySender? _sender;
    private FileSender? _files;
    private long _requestCount;
    private int _readerState;

    /// <summary>Since the watchdog last found this connection with no stuck request (touched by the watchdog only).</summary>
    private StuckEpisode _stuckEpisode;

    public NbdConnection(long id, Socket socket, TlsPolicy tls, string endpoint, IExportProvider exports, ILogger logger, NbdServerOptions options)
    {
        _id = id;
        _socket = socket;
        _tls = tls;
        _endpoint = endpoint;
        _exports = exports;
        _logger = logger;
        _options = options;
        try
        {
            // room for whole large replies and payloads: fewer waits on a full socket (capped by net.core.[rw]mem_max)
            socket.SendBufferSize = SocketBufferSize;
            socket.ReceiveBufferSize = SocketBufferSize;
        }
        catch (SocketException)
        {
        }
        _network = new NetworkStream(socket, ownsSocket: true);
        _stream = _network;
        _reader = new FrameReader(_network, ReadBufferSize);
    }

    public ReplySender Sender => _sender!;

    /// <summary>Runs the connection to its end; never throws.</summary>
    public async Task RunAsync(CancellationToken serverStopping)
    {
        _logger.ConnectionAccepted(_id, _socket.RemoteEndPoint?.ToString() is { Length: > 0 } peer ? peer : _endpoint);
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(serverStopping, _abort.Token);
        var graceful = false;
        CancellationTokenRegistration revoked = default;
        try
        {
            if (!await NegotiateAsync(stopReading.Token))
            {
                return;
            }
            revoked = _volume!.Revoked.Register(() =>
            {
                _logger.VolumeRevoked(_id, _export);
                stopReading.Cancel();
            });
            graceful = await TransmitAsync(stopReading.Token);
        }
        catch (TruncatedFrameException ex)
        {
            _logger.ConnectionDropped(_id, ex.Message);
        }
        catch (OperationCanceledException) when (stopReading.IsCancellationRequested)
        {
            // server stopping, volume revoked, or the connection was cut: said where it happened
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            _logger.ConnectionDropped(_id, $"the connection failed: {ex.Message}");
        }
        catch (Exception ex)
        {
            _logger.ConnectionFailed(_id, ex);
        }
        finally
        {
            Reader = ReaderState.Stopped;
            await revoked.DisposeAsync();
            await CloseAsync(graceful);
        }
    }

    /// <summary>Cuts the connection now: pending reads and volume calls are cancelled, the socket is shut.</summary>
    public void Abort()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Frees what <see cref="RunAsync"/> left: call after it has returned.</summary>
    public void Dispose()
    {
        _network.Dispose();
        _files?.Dispose();
        _abort.Dispose();
    }

    /// <summary>
    /// A context to carry one request whose header was read at <paramref name="since"/>, charged
    /// <paramref name="windowBytes"/> in the window already entered.
    /// </summary>
    private RequestContext RentContext(in NbdRequest request, long windowBytes, long since)
    {
        RequestContext? context;
        lock (_freeContextsLock)
        {
            if (!_freeContexts.TryPop(out context))
            {
                context = new RequestContext(this);
                _contexts.Add(context);
            }
        }
        context.Begin(request, windowBytes, since);
        return context;
    }

    /// <summary>What the read loop waits for now.</summary>
    private ReaderState Reader
    {
        get => (ReaderState)Volatile.Read(ref _readerState);
        set => Volatile.Write(ref _readerState, (int)value);
    }

    /// <summary>
    /// Counts, once each, the requests that have waited longer than <paramref name="threshold"/> (in
    /// <see cref="Stopwatch"/> ticks) for their reply, and returns how many wait so now. The first time the connection has
    /// any, the oldest is logged with what the connection is doing; when none is left, that the connection answers again.
    /// Called by the server's watchdog only.
    /// </summary>
    internal int ReportStuck(long now, long threshold, Action<string> counted)
    {
        var stuck = 0;
        var fresh = 0;
        var oldest = (Request: default(NbdRequest), Since: long.MaxValue, Stage: RequestStage.Reading);
        lock (_freeContextsLock)
        {
            foreach (var context in _contexts)
            {
                var since = context.Since;
                if (since == 0 || now - since < threshold)
                {
                    continue;
                }
                stuck++;
                if (context.ReportedSince != since)
                {
                    context.ReportedSince = since;
                    fresh++;
                }
                if (since < oldest.Since)
                {
                    oldest = (context.Request, since, context.Stage);
                }
            }
        }
        // logged outside the lock: every request's completion takes it
        for (var i = 0; i < fresh; i++)
        {
            counted(_export);
        }
        _stuckEpisode.Requests += fresh;
        if (stuck > 0)
        {
            var waited = Stopwatch.GetElapsedTime(oldest.Since, now).TotalSeconds;
            _stuckEpisode.LongestSeconds = Math.Max(_stuckEpisode.LongestSeconds, waited);
            if (!_stuckEpisode.Open)
            {
                _stuckEpisode.Open = true;
                _logger.RequestStuck(_id, _export, NbdNames.Of(oldest.Request.Command), oldest.Request.Offset, oldest.Request.Length,
                    waited, Describe(oldest.Stage), stuck - 1, _window?.Requests ?? 0, Describe(Reader), _sender?.Describe(now) ?? "has not started");
            }
        }
        else if (_stuckEpisode.Open)
        {
            _logger.RequestsAnsweredAgain(_id, _export, _stuckEpisode.Requests, _stuckEpisode.LongestSeconds);
            _stuckEpisode = default;
        }
        return stuck;
    }

    private static string Describe(RequestStage stage) => stage switch
    {
        RequestStage.Reading => "its payload is being read or it waits for a thread",
        RequestStage.Processing => "the volume is working on it",
        _ => "it is done and its reply waits to be sent",
    };

    private static string Describe(ReaderState state) => state switch
    {
        ReaderState.Request => "waiting for the next request",
        ReaderState.Payload => "reading a write's payload",
        ReaderState.Window => "waiting for room in the in-flight window",
        _ => "stopped",
    };

    /// <summary>Called by <see cref="RequestContext.Release"/>: the context is free and its window place too.</summary>
    internal void Return(RequestContext context, long windowBytes)
    {
        lock (_freeContextsLock)
        {
            _freeContexts.Push(context);
        }
        _window!.Exit(windowBytes);
    }

    /// <summary>Processing a request threw, which it should not: answer EIO and say so.</summary>
    internal void Fail(RequestContext context, Exception exception)
    {
        _logger.ConnectionFailed(_id, exception);
        SetError(context, NbdError.IO, "internal error in the NBD server; its log has the details");
    }

    private void OnSendFailed(Exception exception)
    {
        _logger.SendFailed(_id, exception);
        Abort();
    }

    private async Task CloseAsync(bool graceful)
    {
        if (_window is not null)
        {
            // never give the volume back while a call on it is running
            var empty = _window.WhenEmptyAsync();
            if (await Task.WhenAny(empty, Task.Delay(_options.StopTimeout)) != empty)
            {
                Abort();
                await Task.WhenAny(empty, Task.Delay(_options.StopTimeout));
            }
        }
        if (graceful && _sslStream is not null)
        {
            try
            {
                await _sslStream.ShutdownAsync().WaitAsync(TimeSpan.FromSeconds(1));
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or TimeoutException
                or InvalidOperationException or AuthenticationException)
            {
            }
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        if (_sslStream is not null)
        {
            await _sslStream.DisposeAsync();
        }
        await _network.DisposeAsync();
        if (_lease is not null)
        {
            try
            {
                await ReleaseAsync(_lease);
            }
            catch (Exception ex)
            {
                _logger.ConnectionFailed(_id, ex);
            }
        }
        _abort.Cancel();
        _logger.ConnectionClosed(_id, _requestCount);
    }
}

/// <summary>What a connection's read loop waits for.</summary>
internal enum ReaderState
{
    Request,
    Payload,
    Window,
    Stopped,
}

/// <summary>A time during which a connection had requests waiting too long: how many, and the longest wait seen.</summary>
internal struct StuckEpisode
{
    public bool Open;
    public int Requests;
    public double LongestSeconds;
}
