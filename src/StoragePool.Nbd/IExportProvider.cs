using StoragePool.Storage.IO;

namespace StoragePool.Nbd;

/// <summary>What the NBD server serves: the daemon resolves export names (<c>pool/volume</c>,
/// <c>pool/volume@snap</c>) to open volumes.</summary>
public interface IExportProvider
{
    /// <summary>Every export a client may ask for (NBD_OPT_LIST).</summary>
    ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Opens an export for one connection, or throws <see cref="Core.Errors.StoragePoolException"/>
    /// (unknown name → not found). Dispose the lease when the connection ends.
    /// </summary>
    ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken);
}

/// <summary>One connection's hold on an open volume; the volume counts as in use until it is disposed.</summary>
public interface IExportLease : IAsyncDisposable
{
    IBlockVolume Volume { get; }
}
