using StoragePool.Cluster.Control;
using StoragePool.Nbd;
using StoragePool.Storage.IO;

namespace StoragePool.Daemon.Nbd;

/// <summary>The NBD server's exports are the pool's volumes (read-write) and snapshots (read-only).</summary>
internal sealed class NbdExports(PoolManager pool) : IExportProvider
{
    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        new(pool.ListExportsAsync(cancellationToken));

    public async ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken) =>
        new Lease(await pool.OpenAsync(name, VolumeHolder.Connection, cancellationToken));

    private sealed class Lease(VolumeLease lease) : IExportLease
    {
        public IBlockVolume Volume => lease.Volume;

        public ValueTask DisposeAsync() => lease.DisposeAsync();
    }
}
