using StoragePool.Cluster.Control;
using StoragePool.Nbd;
using StoragePool.Storage.IO;

namespace StoragePool.Daemon.Nbd;

/// <summary>
/// The NBD server's exports are the pool's volumes (read-write) and snapshots (read-only).
/// The handshake calls these from a socket continuation, which may run on the epoll thread (inline
/// completions, see Program.cs); the metadata reads and file opens behind them block, so each first
/// moves to the thread pool.
/// </summary>
internal sealed class NbdExports(PoolManager pool) : IExportProvider
{
    public async ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        return await pool.ListExportsAsync(cancellationToken);
    }

    public async ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return new Lease(await pool.OpenAsync(name, cancellationToken));
    }

    private sealed class Lease(VolumeLease lease) : IExportLease
    {
        public IBlockVolume Volume => lease.Volume;

        public ValueTask DisposeAsync() => lease.DisposeAsync();
    }
}
