using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StoragePool.Cluster.Control;

using StoragePool.Daemon.Hosting;

namespace StoragePool.Daemon.DBus;

/// <summary>
/// The D-Bus API of storagepoold: owns <c>org.storagepool.StoragePool1</c> on the system bus (or the bus
/// named by <c>DBUS_SYSTEM_BUS_ADDRESS</c>), serves the manager, pool and volume objects and sends a
/// signal for every change. Without a bus it logs one warning and does nothing; the daemon runs on.
/// </summary>
public sealed class DBusService : BackgroundService
{
    private readonly PoolManager _manager;
    private readonly ILogger<DBusService> _logger;

    private readonly NbdEndpoints _nbd;

    public DBusService(PoolManager manager, ILogger<DBusService> logger, DaemonOptions options)
    {
        _manager = manager;
        _logger = logger;
        _nbd = options.Nbd;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var objects = new BusObjects(_manager, _nbd);
        using var connection = new BusConnection(objects.Dispatch, _logger);
        var problem = await connection.StartAsync();
        if (problem is not null)
        {
            _logger.Disabled(problem);
            await connection.Completion;
            return;
        }

        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var watching = SendChangeSignalsAsync(connection, stopWatching.Token);
        try
        {
            using (stoppingToken.Register(connection.Stop))
            {
                await connection.Completion;
            }
        }
        finally
        {
            connection.Stop();
            await stopWatching.CancelAsync();
            await watching;
        }
    }

    private async Task SendChangeSignalsAsync(BusConnection connection, CancellationToken ct)
    {
        try
        {
            await foreach (var change in _manager.WatchChangesAsync(ct))
            {
                connection.EmitSignal(ObjectPaths.Root, BusObjects.ManagerInterface, ChangeSignals.MemberOf(change), ChangeSignals.BodyOf(change));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.WatchFailed(e);
        }
    }
}
