using StoragePool.Core.Extents;
using StoragePool.Core.Model;
using StoragePool.Storage.IO;

namespace StoragePool.Storage;

/// <summary>
/// Local capacity of one tier: holds the data of volumes and snapshots, each named by its
/// incarnation id. Knows nothing of pools or names; the metadata does.
/// Every mutating call is idempotent so that recovery after a crash can simply repeat it.
/// Failures are <see cref="Core.Errors.StoragePoolException"/> with a code and a sentence.
/// </summary>
public interface IVolumeStore
{
    /// <summary>
    /// Opens a volume for block I/O: reads, and changes that all pass <paramref name="writes"/> first.
    /// The caller owns the result and disposes it (closing its descriptor) when its last request has finished.
    /// Open it as often as needed (one per connection, say): every open sees the same data, and a flush through
    /// any of them makes the writes of all of them durable.
    /// </summary>
    /// <param name="volumeId">the volume's incarnation id.</param>
    /// <param name="name">how requests and errors name it (<c>pool/volume</c>); <see cref="WriteRequest.Volume"/>.</param>
    /// <param name="writes">the stages every write, trim and write-zeroes passes before it is applied.</param>
    /// <param name="revoked">fires when the volume is taken away; the result's <see cref="IBlockVolume.Revoked"/>.</param>
    BlockVolume OpenVolume(string volumeId, string name, WritePath writes, CancellationToken revoked);

    /// <summary>Opens a snapshot for block I/O, read-only (changes fail with PermissionDenied).
    /// The caller owns the result and disposes it.</summary>
    /// <param name="name">how errors name it (<c>pool/volume@snapshot</c>).</param>
    BlockVolume OpenSnapshot(string snapshotId, string name, CancellationToken revoked);

    /// <summary>Capacity and free bytes of the file system (statvfs).</summary>
    StoreUsage GetUsage();

    /// <summary>Creates a thin volume (nothing allocated). Repeating it with the same size is a no-op.</summary>
    void CreateVolume(string volumeId, long sizeBytes);

    /// <summary>Deletes a volume's data; a volume that is not there is fine.</summary>
    void DeleteVolume(string volumeId);

    bool VolumeExists(string volumeId);

    /// <summary>Grows or shrinks; shrinking drops the data past the new end (the caller asked for it).</summary>
    void ResizeVolume(string volumeId, long sizeBytes);

    /// <summary>Virtual size in bytes.</summary>
    long GetVolumeSize(string volumeId);

    /// <summary>Bytes actually allocated on disk.</summary>
    long GetVolumeAllocatedBytes(string volumeId);

    /// <summary>The extents that hold data, from the file system's map (SEEK_DATA/SEEK_HOLE).</summary>
    IReadOnlyList<Extent> GetVolumeExtents(string volumeId);

    /// <summary>Makes a read-only, point-in-time copy: a reflink where the file system can, else a sparse copy.
    /// Repeating it replaces a partial copy.</summary>
    Task<CopyMethod> CreateSnapshotAsync(string volumeId, string snapshotId, CancellationToken cancellationToken = default);

    void DeleteSnapshot(string snapshotId);

    bool SnapshotExists(string snapshotId);

    long GetSnapshotAllocatedBytes(string snapshotId);

    IReadOnlyList<Extent> GetSnapshotExtents(string snapshotId);

    /// <summary>A new writable volume with the snapshot's contents and size.</summary>
    Task<CopyMethod> CloneFromSnapshotAsync(string snapshotId, string newVolumeId, CancellationToken cancellationToken = default);

    /// <summary>Replaces the volume's contents and size with the snapshot's, atomically (the volume is either old or new).</summary>
    Task<CopyMethod> RevertToSnapshotAsync(string volumeId, string snapshotId, CancellationToken cancellationToken = default);

    /// <summary>Ids of every volume and snapshot present, for recovery (finding what metadata does not know).</summary>
    IReadOnlyList<string> ListVolumeIds();

    IReadOnlyList<string> ListSnapshotIds();

    /// <summary>Removes what the store added to its place (directories, for a file store) once nothing is left in it.</summary>
    void RemoveLayout();
}

/// <summary>How a copy was made.</summary>
public enum CopyMethod
{
    /// <summary>FICLONE: shares blocks with the source, instant, no space used until written.</summary>
    Reflink,

    /// <summary>Read only the source's allocated extents and wrote them into a sparse file.</summary>
    SparseCopy,
}
