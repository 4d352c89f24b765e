namespace StoragePool.Core.Model;

// What every surface (REST, D-Bus, CLI) shows of the pool. Serialized as JSON with
// snake_case names (size_bytes, allocated_bytes, ...); sizes are always bytes.

public sealed record StoreInfo(
    string Name,
    string Backend,
    string Path,
    long CapacityBytes,
    long FreeBytes,
    long ProvisionedBytes,
    long AllocatedBytes,
    double OvercommitRatio,
    double WatermarkPercent,
    int PoolCount,
    string? Warning = null);

public sealed record PoolInfo(
    string Name,
    string Store,
    int VolumeCount,
    int SnapshotCount,
    long ProvisionedBytes,
    long AllocatedBytes,
    long CapacityBytes,
    long FreeBytes,
    DateTimeOffset CreatedAt,
    LibvirtPoolState? Libvirt = null);

/// <summary>
/// The libvirt <c>dir</c> pool that shows a pool to virsh (same name, target inside the FUSE mount), as the daemon last
/// saw it; <paramref name="Problem"/> says why it is missing (no libvirt daemon, a foreign pool of the same name).
/// </summary>
public sealed record LibvirtPoolState(string Uri, string TargetPath, bool Defined, bool Active, bool Autostart, string? Problem);

/// <summary>An XML document for libvirt (a <c>&lt;pool&gt;</c> to define, a <c>&lt;disk&gt;</c> to attach).</summary>
public sealed record LibvirtXml(string Xml);

public sealed record VolumeInfo(
    string Id,
    string Pool,
    string Name,
    long SizeBytes,
    long AllocatedBytes,
    int SnapshotCount,
    string State,
    DateTimeOffset CreatedAt,
    FileOwnership? Ownership = null);

public sealed record SnapshotInfo(
    string Id,
    string Pool,
    string Volume,
    string Name,
    long SizeBytes,
    long AllocatedBytes,
    DateTimeOffset CreatedAt);

/// <summary>A volume after a create or resize, with anything the caller should be told (a size rounded up).</summary>
public sealed record VolumeChange(VolumeInfo Volume, IReadOnlyList<string> Notes);

public sealed record StatusInfo(
    string Version,
    string Node,
    IReadOnlyList<StoreInfo> Stores,
    IReadOnlyList<PoolInfo> Pools,
    int VolumeCount,
    int SnapshotCount,
    long ProvisionedBytes,
    long AllocatedBytes);

/// <summary>How to reach a volume or snapshot over NBD: export name and URIs (unix socket first, then TCP if served).</summary>
public sealed record ExportInfo(string Name, bool ReadOnly, IReadOnlyList<string> Uris);

/// <summary>What changed, for D-Bus signals and other watchers.</summary>
public enum ChangeKind
{
    Added,
    Changed,
    Removed,
}

public enum ObjectKind
{
    Store,
    Pool,
    Volume,
    Snapshot,
}

/// <summary>One change to the pool's objects. <paramref name="Name"/> is the full name: <c>store</c>, <c>pool</c>, <c>pool/volume</c> or <c>pool/volume@snap</c>.</summary>
public sealed record ObjectChange(ObjectKind Kind, ChangeKind Change, string Name);
