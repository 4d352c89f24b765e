namespace StoragePool.Core.Model;

/// <summary>Life-cycle of a stored object. Anything but <see cref="Ready"/> is an operation in flight
/// that the daemon finishes or rolls back when it starts.</summary>
public enum ObjectState
{
    Ready,
    Creating,
    Deleting,
    Resizing,
    Reverting,

    /// <summary>A transfer is writing it (<see cref="VolumeRecord.TransferId"/>): not exported, left alone by recovery so the transfer can resume.</summary>
    Receiving,
}

/// <summary>Store backends. Only <c>file</c> exists today.</summary>
public static class StoreBackends
{
    public const string File = "file";
}

/// <summary>A store: local capacity of one tier on this node.</summary>
/// <param name="OvercommitRatio">how many times its capacity may be provisioned as volume sizes.</param>
/// <param name="WatermarkPercent">free space (percent of capacity) below which new volumes and grows are refused.</param>
public sealed record StoreRecord(
    string Name,
    string Backend,
    string Path,
    double OvercommitRatio,
    double WatermarkPercent,
    DateTimeOffset CreatedAt,
    ObjectState State = ObjectState.Ready);

public sealed record PoolRecord(string Name, string Store, DateTimeOffset CreatedAt);

/// <summary>A volume. <paramref name="Id"/> is its incarnation id (never reused) and names its data in the store.</summary>
/// <param name="PendingSize">target size while <see cref="ObjectState.Resizing"/>.</param>
/// <param name="PendingSnapshotId">snapshot id while <see cref="ObjectState.Reverting"/>, or source snapshot while a clone is <see cref="ObjectState.Creating"/>.</param>
public sealed record VolumeRecord(
    string Id,
    string Pool,
    string Name,
    long SizeBytes,
    DateTimeOffset CreatedAt,
    ObjectState State = ObjectState.Ready,
    long? PendingSize = null,
    string? PendingSnapshotId = null,
    string? TransferId = null,
    FileOwnership? Ownership = null);

/// <summary>
/// Owner and permission bits of a volume's file in the FUSE file system (libvirt hands a disk to the VM's user with
/// chown); kept as metadata, so they survive restarts. Volumes that never had them show <see cref="Default"/>.
/// </summary>
public sealed record FileOwnership(int Uid, int Gid, int Mode)
{
    /// <summary>root, mode 0600: what libvirt gives a new volume of a <c>dir</c> pool.</summary>
    public static FileOwnership Default { get; } = new(0, 0, 0x180);
}

/// <summary>A read-only, point-in-time copy of a volume.</summary>
public sealed record SnapshotRecord(
    string Id,
    string Pool,
    string Volume,
    string VolumeId,
    string Name,
    long SizeBytes,
    DateTimeOffset CreatedAt,
    ObjectState State = ObjectState.Ready);

/// <summary>What the file system says about a store, plus what the volumes in it add up to.</summary>
public readonly record struct StoreUsage(long CapacityBytes, long FreeBytes);

public static class Ids
{
    /// <summary>A new incarnation id: 16 random bytes as 32 hex digits.</summary>
    public static string New() => Guid.NewGuid().ToString("N");
}
