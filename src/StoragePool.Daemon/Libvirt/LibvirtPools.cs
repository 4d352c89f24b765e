using System.Collections.Concurrent;
using System.Threading.Channels;
using System.Xml.Linq;
using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Daemon.Hosting;
using StoragePool.Libvirt;

namespace StoragePool.Daemon.Libvirt;

/// <summary>
/// Shows every pool to libvirt as a stock <c>dir</c> pool of the same name whose target is the pool's directory of the
/// FUSE mount (<c>MOUNT/POOL/volumes</c>): defined, started and autostarted when the pool is made, refreshed when its
/// volumes change through the CLI, REST or D-Bus, undefined when it is deleted. libvirt's pool lifecycle events keep
/// <see cref="StateOf"/> true when an admin runs <c>virsh pool-destroy</c> or <c>pool-start</c>.
/// <para>
/// libvirt calls block, so they run one at a time on a worker of their own, fed by a queue. Without a libvirt daemon
/// it logs once, tries again every <see cref="RetryInterval"/>, and every pool says why it has no libvirt pool.
/// A libvirt pool of the same name that is not ours (another target) is never touched.
/// </para>
/// </summary>
internal sealed class LibvirtPools(PoolManager pool, DaemonOptions options, ILogger<LibvirtPools> logger) : BackgroundService
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(10);

    /// <summary>A volume change usually comes in a burst (create, then resize): one refresh after the burst.</summary>
    private static readonly TimeSpan RefreshDelay = TimeSpan.FromMilliseconds(200);

    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, LibvirtPoolState> _states = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _refreshing = new(StringComparer.Ordinal);
    private LibvirtEventLoop? _events;
    private LibvirtConnection? _connection;
    private IDisposable? _subscription;
    private string? _unreachable;
    private int _retryPending;

    private enum WorkKind
    {
        /// <summary>Make the libvirt pool exist and run (the pool was made, or the daemon started).</summary>
        Ensure,

        /// <summary>The pool is gone: undefine ours.</summary>
        Remove,

        /// <summary>Its volumes changed: refresh.</summary>
        Refresh,

        /// <summary>libvirt said something happened to it: read its state.</summary>
        Observe,

        /// <summary>Ensure every pool (start, reconnect).</summary>
        EnsureAll,
    }

    private readonly record struct Work(WorkKind Kind, string? Pool);

    public string? Uri => options.LibvirtUri;

    /// <summary>The libvirt pool of <paramref name="name"/> as last seen; null when libvirt pools are off.</summary>
    public LibvirtPoolState? StateOf(string name)
    {
        if (Uri is null || options.Fuse?.Mount is null)
        {
            return null;
        }
        return _states.TryGetValue(name, out var state) ? state
            : new LibvirtPoolState(Uri, TargetOf(name), false, false, false, _unreachable ?? "not defined yet");
    }

    public PoolInfo Annotate(PoolInfo info) => info with { Libvirt = StateOf(info.Name) };

    /// <summary>The <c>&lt;pool&gt;</c> XML that shows <paramref name="name"/> to libvirt on any host that runs the daemon.</summary>
    public string XmlOf(string name) =>
        PoolXml.Dir(name, TargetOf(name));

    public string TargetOf(string name) =>
        Path.Combine(options.Fuse?.Mount ?? throw new StoragePoolException(ErrorCode.Unsupported,
            "the daemon runs without its FUSE file system (--no-fuse), so a libvirt dir pool would have no directory to show"), name, "volumes");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Uri is null || options.Fuse?.Mount is null)
        {
            return;
        }
        var changes = FollowChangesAsync(stoppingToken);
        _work.Writer.TryWrite(new Work(WorkKind.EnsureAll, null));
        try
        {
            await foreach (var work in _work.Reader.ReadAllAsync(stoppingToken))
            {
                IReadOnlyList<string> pools = work.Kind == WorkKind.EnsureAll
                    ? (await pool.ListPoolsAsync(stoppingToken)).Select(p => p.Name).ToList()
                    : [];
                await Task.Run(() => Apply(work, pools), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await changes.ContinueWith(_ => { }, TaskScheduler.Default);
            _subscription?.Dispose();
            _connection?.Dispose();
            _events?.Dispose();
        }
    }

    private async Task FollowChangesAsync(CancellationToken ct)
    {
        await Task.Yield();
        await foreach (var change in pool.WatchChangesAsync(ct))
        {
            switch (change.Kind)
            {
                case ObjectKind.Pool:
                    _work.Writer.TryWrite(new Work(change.Change == ChangeKind.Removed ? WorkKind.Remove : WorkKind.Ensure, change.Name));
                    break;
                case ObjectKind.Volume:
                    var name = change.Name[..change.Name.IndexOf('/', StringComparison.Ordinal)];
                    if (_refreshing.TryAdd(name, 0))
                    {
                        _ = Task.Delay(RefreshDelay, ct).ContinueWith(_ =>
                        {
                            _refreshing.TryRemove(name, out byte _);
                            _work.Writer.TryWrite(new Work(WorkKind.Refresh, name));
                        }, TaskScheduler.Default);
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// One piece of work, on a thread that may block. When libvirtd has gone away (restarted) the connection is
    /// dead: connect again, put every pool's state back, and do the work on the new connection.
    /// </summary>
    private void Apply(Work work, IReadOnlyList<string> pools)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (Connect() is not { } connection)
            {
                return;
            }
            try
            {
                Do(connection, work, pools);
                return;
            }
            catch (LibvirtException e) when (!connection.IsAlive)
            {
                logger.LibvirtLost(Uri!, e.LibvirtMessage);
                Disconnect();
                _work.Writer.TryWrite(new Work(WorkKind.EnsureAll, null));
            }
            catch (LibvirtException e)
            {
                logger.LibvirtPoolFailed(work.Pool ?? "*", e.Message);
                return;
            }
        }
    }

    private void Do(LibvirtConnection connection, Work work, IReadOnlyList<string> pools)
    {
        switch (work.Kind)
        {
            case WorkKind.EnsureAll:
                foreach (var name in pools)
                {
                    Ensure(connection, name);
                }
                break;
            case WorkKind.Ensure:
                Ensure(connection, work.Pool!);
                break;
            case WorkKind.Remove:
                Remove(connection, work.Pool!);
                break;
            case WorkKind.Refresh:
                Refresh(connection, work.Pool!);
                break;
            case WorkKind.Observe:
                Observe(connection, work.Pool!);
                break;
        }
    }

    private LibvirtConnection? Connect()
    {
        if (_connection is not null)
        {
            return _connection;
        }
        try
        {
            _events ??= LibvirtEventLoop.Start(onError: e => logger.LibvirtEventFailed(e.Message));
            _connection = LibvirtConnection.Open(Uri!);
            _subscription = _events.SubscribePoolLifecycle(_connection,
                (name, _) => _work.Writer.TryWrite(new Work(WorkKind.Observe, name)));
            _unreachable = null;
            logger.LibvirtConnected(Uri!);
            return _connection;
        }
        catch (StoragePoolException e)
        {
            Disconnect();
            var reason = $"libvirt at {Uri} is not reachable ({(e is LibvirtException l ? l.LibvirtMessage : e.Message)})";
            if (_unreachable is null)
            {
                logger.LibvirtUnreachable(Uri!, reason, RetryInterval.TotalSeconds);
            }
            _unreachable = reason;
            foreach (var name in _states.Keys)
            {
                _states[name] = _states[name] with { Active = false, Problem = reason };
            }
            // one retry pending at a time, however many pieces of work found libvirt missing
            if (Interlocked.Exchange(ref _retryPending, 1) == 0)
            {
                _ = Task.Delay(RetryInterval).ContinueWith(_ =>
                {
                    Volatile.Write(ref _retryPending, 0);
                    _work.Writer.TryWrite(new Work(WorkKind.EnsureAll, null));
                }, TaskScheduler.Default);
            }
            return null;
        }
    }

    private void Disconnect()
    {
        _subscription?.Dispose();
        _subscription = null;
        _connection?.Dispose();
        _connection = null;
    }

    private void Ensure(LibvirtConnection connection, string name)
    {
        var target = TargetOf(name);
        using var existing = connection.LookupPool(name);
        if (existing is not null && !IsOurs(existing, target))
        {
            Record(name, existing, $"libvirt already has a pool '{name}' with another target; StoragePool leaves it alone");
            return;
        }
        var libvirtPool = existing ?? connection.DefinePool(PoolXml.Dir(name, target));
        try
        {
            if (!libvirtPool.Autostart)
            {
                libvirtPool.Autostart = true;
            }
            if (!libvirtPool.IsActive)
            {
                libvirtPool.Start();
            }
            if (existing is null)
            {
                logger.LibvirtPoolDefined(name, target);
            }
            Record(name, libvirtPool, null);
        }
        finally
        {
            if (existing is null)
            {
                libvirtPool.Dispose();
            }
        }
    }

    private void Remove(LibvirtConnection connection, string name)
    {
        _states.TryRemove(name, out _);
        using var existing = connection.LookupPool(name);
        if (existing is null || !IsOurs(existing, TargetOf(name)))
        {
            return;
        }
        if (existing.IsActive)
        {
            existing.Destroy();
        }
        existing.Undefine();
        logger.LibvirtPoolUndefined(name);
    }

    private void Refresh(LibvirtConnection connection, string name)
    {
        using var existing = connection.LookupPool(name);
        if (existing is not null && existing.IsActive && IsOurs(existing, TargetOf(name)))
        {
            try
            {
                existing.Refresh();
            }
            catch (LibvirtException e) when (e.LibvirtCode == LibvirtErrorCodes.InternalError && connection.IsAlive)
            {
                // "has asynchronous jobs running": libvirt is making a volume; it knows about that one itself
                RetryRefresh(name);
            }
        }
    }

    private void RetryRefresh(string name) =>
        _ = Task.Delay(TimeSpan.FromSeconds(1)).ContinueWith(_ => _work.Writer.TryWrite(new Work(WorkKind.Refresh, name)), TaskScheduler.Default);

    private void Observe(LibvirtConnection connection, string name)
    {
        using var existing = connection.LookupPool(name);
        if (existing is null)
        {
            _states.TryRemove(name, out _);
            return;
        }
        Record(name, existing, IsOurs(existing, TargetOf(name)) ? null
            : $"libvirt already has a pool '{name}' with another target; StoragePool leaves it alone");
    }

    private void Record(string name, LibvirtPool libvirtPool, string? problem) =>
        _states[name] = new LibvirtPoolState(Uri!, TargetOf(name), true, libvirtPool.IsActive, libvirtPool.Autostart, problem);

    private static bool IsOurs(LibvirtPool libvirtPool, string target)
    {
        var xml = XDocument.Parse(libvirtPool.GetXml());
        return xml.Root?.Attribute("type")?.Value == "dir" && xml.Root.Element("target")?.Element("path")?.Value == target;
    }
}
