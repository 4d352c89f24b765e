using StoragePool.Cluster.Metadata;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;

namespace StoragePool.Cluster.Control;

/// <summary>Every record, read at one revision, with lookups that fail the way users expect.</summary>
internal sealed class MetadataView
{
    private MetadataView(long revision, List<StoreRecord> stores, List<PoolRecord> pools, List<VolumeRecord> volumes, List<SnapshotRecord> snapshots)
    {
        Revision = revision;
        Stores = stores;
        Pools = pools;
        Volumes = volumes;
        Snapshots = snapshots;
    }

    public long Revision { get; }

    public IReadOnlyList<StoreRecord> Stores { get; }

    public IReadOnlyList<PoolRecord> Pools { get; }

    public IReadOnlyList<VolumeRecord> Volumes { get; }

    public IReadOnlyList<SnapshotRecord> Snapshots { get; }

    public static MetadataView From(RangeResult range)
    {
        var stores = new List<StoreRecord>();
        var pools = new List<PoolRecord>();
        var volumes = new List<VolumeRecord>();
        var snapshots = new List<SnapshotRecord>();
        foreach (var kv in range.Items)
        {
            switch (MetadataKeys.Parse(kv.Key)?.Kind)
            {
                case ObjectKind.Store:
                    stores.Add(MetadataJson.Store(kv.Value));
                    break;
                case ObjectKind.Pool:
                    pools.Add(MetadataJson.Pool(kv.Value));
                    break;
                case ObjectKind.Volume:
                    volumes.Add(MetadataJson.Volume(kv.Value));
                    break;
                case ObjectKind.Snapshot:
                    snapshots.Add(MetadataJson.Snapshot(kv.Value));
                    break;
                default:
                    break;
            }
        }
        return new MetadataView(range.Revision, stores, pools, volumes, snapshots);
    }

    public StoreRecord Store(string name) =>
        Stores.FirstOrDefault(s => s.Name == Names.Validate(NameKind.Store, name))
        ?? throw PoolManager.NotFound(ErrorCode.StoreNotFound, $"store '{name}'", "storagepool store list");

    public PoolRecord Pool(string name) =>
        Pools.FirstOrDefault(p => p.Name == Names.Validate(NameKind.Pool, name))
        ?? throw PoolManager.NotFound(ErrorCode.PoolNotFound, $"pool '{name}'", "storagepool pool list");

    public VolumeRecord? FindVolume(VolumeRef v) => Volumes.FirstOrDefault(r => r.Pool == v.Pool && r.Name == v.Name);

    /// <summary>The volume; a missing pool is reported as such, before a missing volume.</summary>
    public VolumeRecord Volume(VolumeRef v)
    {
        Pool(v.Pool);
        return FindVolume(v) ?? throw PoolManager.NotFound(ErrorCode.VolumeNotFound, $"volume '{v}'", $"storagepool volume list {v.Pool}");
    }

    public SnapshotRecord? FindSnapshot(SnapshotRef s) =>
        Snapshots.FirstOrDefault(r => r.Pool == s.Pool && r.Volume == s.Volume && r.Name == s.Name);

    public SnapshotRecord Snapshot(SnapshotRef s)
    {
        Volume(s.VolumeRef);
        return FindSnapshot(s) ?? throw PoolManager.NotFound(ErrorCode.SnapshotNotFound, $"snapshot '{s}'", $"storagepool snapshot list {s.VolumeRef}");
    }

    public IEnumerable<SnapshotRecord> SnapshotsOf(VolumeRecord volume) => Snapshots.Where(s => s.VolumeId == volume.Id);

    /// <summary>Sum of the sizes of every volume and snapshot on a store: what it has promised.</summary>
    public long ProvisionedBytes(string store)
    {
        var pools = Pools.Where(p => p.Store == store).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        return Volumes.Where(v => pools.Contains(v.Pool)).Sum(v => Math.Max(v.SizeBytes, v.PendingSize ?? 0))
            + Snapshots.Where(s => pools.Contains(s.Pool)).Sum(s => s.SizeBytes);
    }
}
