using StoragePool.Cluster.Control;
using StoragePool.Core.Threading;
using StoragePool.Nbd;
using StoragePool.Storage.IO;

namespace StoragePool.Daemon.Nbd;

/// <summary>
/// The NBD server's exports are the pool's volumes (read-write) and snapshots (read-only).
/// The handshake calls these from a socket continuation, which may run on the socket's
/// <see cref="EventThread"/>; the metadata reads and file opens behind them block, so each leaves it first.
/// </summary>
internal sealed class NbdExports(PoolManager pool) : IExportProvider
{
    public async ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        await EventThread.LeaveAsync();
        return await pool.ListExportsAsync(cancellationToken);
    }

    public async ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken)
    {
        await EventThread.LeaveAsync();
        return new Lease(await pool.OpenAsync(name, VolumeHolder.Connection, cancellationToken));
    }

    private sealed class Lease(VolumeLease lease) : IExportLease
    {
        public IBlockVolume Volume => lease.Volume;

        public ValueTask DisposeAsync() => lease.DisposeAsync();
    }
}
