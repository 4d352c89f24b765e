using StoragePool.Storage.IO;

namespace StoragePool.Nbd;

/// <summary>What the NBD server serves: the daemon resolves export names (<c>pool/volume</c>,
/// <c>pool/volume@snap</c>) to open volumes. The server calls it, and disposes its leases, on the thread pool, never
/// on a socket's event thread: these calls may block.</summary>
public interface IExportProvider
{
    /// <summary>Every export a client may ask for (NBD_OPT_LIST). A <see cref="Core.Errors.StoragePoolException"/>
    /// is answered NBD_REP_ERR_POLICY with its message; names longer than 4096 UTF-8 bytes are left out.</summary>
    ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Opens an export for one connection, or throws <see cref="Core.Errors.StoragePoolException"/>
    /// (unknown name → not found). Dispose the lease when the connection ends.
    /// </summary>
    /// <remarks>
    /// Called for NBD_OPT_GO and NBD_OPT_EXPORT_NAME (the lease is kept until the connection has ended and every
    /// request on it has finished) and for NBD_OPT_INFO (the lease is disposed as soon as size and flags are sent).
    /// Called concurrently from many connections. For NBD_OPT_INFO/GO the error's code picks the reply:
    /// PermissionDenied or Unauthorized → NBD_REP_ERR_POLICY, DaemonUnavailable → NBD_REP_ERR_SHUTDOWN, anything
    /// else → NBD_REP_ERR_UNKNOWN; the message goes to the client. After NBD_OPT_EXPORT_NAME the client is hung up on.
    /// </remarks>
    ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken);
}

/// <summary>One connection's hold on an open volume; the volume counts as in use until it is disposed.</summary>
public interface IExportLease : IAsyncDisposable
{
    IBlockVolume Volume { get; }
}
