using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using StoragePool.Core.Errors;
using StoragePool.Core.Telemetry;
using StoragePool.Nbd.Server;

namespace StoragePool.Nbd;

/// <summary>
/// Serves volumes over NBD (fixed newstyle, structured replies, <c>base:allocation</c>, STARTTLS) on a unix
/// socket and/or TCP. Each connection serves one export and handles many requests at once, replying in
/// whatever order they finish. See <c>Protocol/README.md</c> for the bytes.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly IExportProvider _exports;
    private readonly ILogger<NbdServer> _logger;
    private readonly NbdServerOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, (NbdConnection Connection, Task Task)> _connections = new();
    private readonly List<Listener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly List<string> _endpoints = [];
    private readonly Meter _meter;
    private readonly Counter<long> _stuckRequests;
    private long _nextConnectionId;
    private int _state; // 0 new, 1 started, 2 disposed
    private int _stuckNow;
    private Task _watchdog = Task.CompletedTask;

    public NbdServer(IExportProvider exports, ILogger<NbdServer> logger, NbdServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(exports);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxInFlightPerConnection is < 1 or > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxInFlightPerConnection,
                "MaxInFlightPerConnection must be between 1 and 4096");
        }
        if (options.MaxRequestBytes is < 4096 or > (1 << 30))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxRequestBytes,
                "MaxRequestBytes must be between 4 KiB and 1 GiB");
        }
        if (options.StuckRequestAfter <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.StuckRequestAfter, "StuckRequestAfter must be positive");
        }
        if (options.TlsCertificate is { HasPrivateKey: false })
        {
            throw new ArgumentException("the NBD TLS certificate has no private key; give the certificate with its key", nameof(options));
        }
        _exports = exports;
        _logger = logger;
        _options = options;
        _meter = new Meter(Meters.Name);
        _stuckRequests = _meter.CreateCounter<long>("storagepool_nbd_stuck_requests",
            description: $"NBD requests that waited more than {options.StuckRequestAfter.TotalSeconds:0.###} s for their reply, by export");
        _meter.CreateObservableGauge("storagepool_nbd_requests_stuck", () => StuckRequestCount,
            description: "NBD requests waiting for their reply longer than the stuck threshold now");
        _meter.CreateObservableGauge("storagepool_nbd_connections", () => _connections.Count, description: "NBD connections open now");
    }

    /// <summary>Where the server listens: <c>unix:/path</c>, <c>tcp:127.0.0.1:10809</c> (the bound port).</summary>
    public IReadOnlyList<string> Endpoints => _endpoints;

    /// <summary>Connections open now (handshake or transmission).</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Requests that had waited longer than <see cref="NbdServerOptions.StuckRequestAfter"/> at the watchdog's last look.</summary>
    public int StuckRequestCount => Volatile.Read(ref _stuckNow);

    /// <summary>Binds every endpoint in the options, then accepts connections in the background.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the NBD server was already started");
        }
        if (_options.UnixSocketPath is null && _options.TcpEndPoint is null)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                "the NBD server has nowhere to listen; give a unix socket path or a TCP endpoint");
        }
        try
        {
            if (_options.UnixSocketPath is { } path)
            {
                _listeners.Add(BindUnix(path));
            }
            if (_options.TcpEndPoint is { } endPoint)
            {
                _listeners.Add(BindTcp(endPoint));
            }
        }
        catch
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }
            _listeners.Clear();
            throw;
        }
        foreach (var listener in _listeners)
        {
            _endpoints.Add(listener.Name);
            _logger.Listening(listener.Name);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None));
        }
        _watchdog = Task.Run(WatchAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, lets connections finish what they have in flight (bounded), closes them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }
        await _stopping.CancelAsync();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        await Task.WhenAll(_acceptLoops);
        await _watchdog;

        var open = _connections.Values.ToArray();
        var all = Task.WhenAll(open.Select(c => c.Task));
        if (await Task.WhenAny(all, Task.Delay(_options.StopTimeout)) != all)
        {
            var left = _connections.Values.ToArray();
            _logger.StopTimedOut(left.Length);
            foreach (var (connection, _) in left)
            {
                connection.Abort();
            }
            await Task.WhenAny(all, Task.Delay(_options.StopTimeout));
        }
        _logger.Stopped(open.Length);
        _stopping.Dispose();
        _meter.Dispose();
    }

    /// <summary>
    /// Looks at every connection a few times per <see cref="NbdServerOptions.StuckRequestAfter"/> for requests that have
    /// waited longer for their reply: each is counted once, and each connection logs its first and when it answers in
    /// time again. Ends when the server stops.
    /// </summary>
    private async Task WatchAsync()
    {
        var threshold = _options.StuckRequestAfter;
        var interval = TimeSpan.FromTicks(Math.Clamp(threshold.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks));
        var thresholdTicks = (long)(threshold.TotalSeconds * Stopwatch.Frequency);
        using var timer = new PeriodicTimer(interval);
        Action<string> count = CountStuck;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                var now = Stopwatch.GetTimestamp();
                var stuck = 0;
                foreach (var (connection, _) in _connections.Values)
                {
                    stuck += connection.ReportStuck(now, thresholdTicks, count);
                }
                Volatile.Write(ref _stuckNow, stuck);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void CountStuck(string export) => _stuckRequests.Add(1, new KeyValuePair<string, object?>("export", export));

    private Listener BindUnix(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        RemoveStaleSocket(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            // the socket reaches every volume: owner and group only
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            if (_options.UnixSocketGroupId is { } group)
            {
                Interop.Interop.Libc.ChangeGroup(path, group);
            }
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new StoragePoolException(ErrorCode.IoError,
                $"cannot listen for NBD on unix socket '{path}': {ex.Message}", ex);
        }
        catch (StoragePoolException)
        {
            socket.Dispose();
            throw;
        }
        return new Listener(socket, "unix:" + path, path, TlsPolicy.For(_options, tcpEndPoint: null));
    }

    private Listener BindTcp(IPEndPoint endPoint)
    {
        var policy = TlsPolicy.For(_options, endPoint);
        if (policy.Required && _options.TlsCertificate is null)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, IPAddress.IsLoopback(endPoint.Address)
                ? $"NBD on tcp:{endPoint} is set to require TLS but no certificate was given; give a certificate"
                : $"NBD on tcp:{endPoint} is not loopback, so it needs TLS; give a certificate, or choose insecure to serve plain TCP");
        }
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new StoragePoolException(
                ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? ErrorCode.Conflict : ErrorCode.IoError,
                ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                    ? $"cannot listen for NBD on tcp:{endPoint}: the address is in use; stop the other server or choose another port"
                    : $"cannot listen for NBD on tcp:{endPoint}: {ex.Message}", ex);
        }
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        return new Listener(socket, "tcp:" + bound, null, policy);
    }

    /// <summary>A socket file left by a server that is gone is replaced; one that answers belongs to a live server.</summary>
    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new StoragePoolException(ErrorCode.Conflict,
                    $"another NBD server is listening on '{path}'; stop it or choose another socket path");
            }
            catch (SocketException)
            {
                // nobody listens: stale
            }
        }
        File.Delete(path);
    }

    private async Task AcceptLoopAsync(Listener listener)
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.Socket.AcceptAsync(token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || token.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException ex)
            {
                // out of descriptors and the like: say so, breathe, go on
                _logger.AcceptFailed(listener.Name, ex);
                try
                {
                    await Task.Delay(100, token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            if (socket.ProtocolType == ProtocolType.Tcp)
            {
                socket.NoDelay = true;
            }
            var id = Interlocked.Increment(ref _nextConnectionId);
            var connection = new NbdConnection(id, socket, listener.Policy, listener.Name, _exports, _logger, _options);
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var task = Task.Run(async () =>
            {
                await started.Task;
                try
                {
                    await connection.RunAsync(token);
                }
                finally
                {
                    _connections.TryRemove(id, out _);
                    connection.Dispose();
                }
            }, CancellationToken.None);
            _connections[id] = (connection, task);
            started.SetResult();
        }
    }

    private sealed class Listener : IDisposable
    {
        private readonly string? _unixPath;

        public Listener(Socket socket, string name, string? unixPath, TlsPolicy policy)
        {
            Socket = socket;
            Name = name;
            _unixPath = unixPath;
            Policy = policy;
        }

        public Socket Socket { get; }

        public string Name { get; }

        public TlsPolicy Policy { get; }

        public void Dispose()
        {
            Socket.Dispose();
            if (_unixPath is not null)
            {
                try
                {
                    File.Delete(_unixPath);
                }
                catch (IOException)
                {
                    // someone else's now
                }
            }
        }
    }
}
