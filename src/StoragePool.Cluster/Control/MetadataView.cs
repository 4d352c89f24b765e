using System.Text.Json;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;

namespace StoragePool.Cluster.Control;

/// <summary>Every record, read at one revision, with lookups that fail the way users expect.</summary>
internal sealed class MetadataView
{
    private MetadataView(long revision, List<StoreRecord> stores, List<PoolRecord> pools, List<VolumeRecord> volumes,
        List<SnapshotRecord> snapshots, List<QuarantinedRecord> quarantined)
    {
        Revision = revision;
        Stores = stores;
        Pools = pools;
        Volumes = volumes;
        Snapshots = snapshots;
        Quarantined = quarantined;
    }

    public long Revision { get; }

    public IReadOnlyList<StoreRecord> Stores { get; }

    public IReadOnlyList<PoolRecord> Pools { get; }

    public IReadOnlyList<VolumeRecord> Volumes { get; }

    public IReadOnlyList<SnapshotRecord> Snapshots { get; }

    /// <summary>
    /// Records this daemon cannot serve (unreadable, a name against the rules, a key that disagrees with its record),
    /// left out of every list above, so that no operation, listing or file system call ever meets one. Recovery moves
    /// them under <see cref="MetadataKeys.Quarantine"/>.
    /// </summary>
    public IReadOnlyList<QuarantinedRecord> Quarantined { get; }

    public static MetadataView From(RangeResult range)
    {
        var stores = new List<StoreRecord>();
        var pools = new List<PoolRecord>();
        var volumes = new List<VolumeRecord>();
        var snapshots = new List<SnapshotRecord>();
        var quarantined = new List<QuarantinedRecord>();
        foreach (var kv in range.Items)
        {
            if (MetadataKeys.Parse(kv.Key) is not { } key)
            {
                continue;
            }
            string? problem;
            try
            {
                problem = key.Kind switch
                {
                    ObjectKind.Store => Take(MetadataJson.Store(kv.Value), key.Name, RecordRules.Problem, stores),
                    ObjectKind.Pool => Take(MetadataJson.Pool(kv.Value), key.Name, RecordRules.Problem, pools),
                    ObjectKind.Volume => Take(MetadataJson.Volume(kv.Value), key.Name, RecordRules.Problem, volumes),
                    ObjectKind.Snapshot => Take(MetadataJson.Snapshot(kv.Value), key.Name, RecordRules.Problem, snapshots),
                    _ => null,
                };
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
            {
                problem = $"it cannot be read ({e.Message})";
            }
            if (problem is not null)
            {
                quarantined.Add(new QuarantinedRecord(kv.Key, kv.Value, problem));
            }
        }
        // then what refers to something that is not there (or was just set aside): a pool without its store, a volume
        // without its pool, a snapshot without its volume
        var storeNames = stores.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        SetAside(pools, p => storeNames.Contains(p.Store) ? null : $"its store '{p.Store}' does not exist",
            p => MetadataKeys.Pool(p.Name), range, quarantined);
        var poolNames = pools.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        SetAside(volumes, v => poolNames.Contains(v.Pool) ? null : $"its pool '{v.Pool}' does not exist",
            v => MetadataKeys.Volume(v.Pool, v.Name), range, quarantined);
        var volumeIds = volumes.Select(v => (v.Id, v.Pool, v.Name)).ToHashSet();
        SetAside(snapshots, s => volumeIds.Contains((s.VolumeId, s.Pool, s.Volume))
                ? null
                : $"its volume '{s.Pool}/{s.Volume}' ({s.VolumeId}) does not exist",
            s => MetadataKeys.Snapshot(s.Pool, s.Volume, s.Name), range, quarantined);
        return new MetadataView(range.Revision, stores, pools, volumes, snapshots, quarantined);
    }

    /// <summary>Adds the record to its list when the rules find nothing wrong with it; returns what they found.</summary>
    private static string? Take<T>(T record, string keyName, Func<T, string, string?> rules, List<T> into)
    {
        var problem = rules(record, keyName);
        if (problem is null)
        {
            into.Add(record);
        }
        return problem;
    }

    /// <summary>
    /// Moves the records <paramref name="problem"/> finds fault with to <paramref name="quarantined"/>, with their bytes
    /// as stored (looked up only then: this runs on every read, and almost never finds anything).
    /// </summary>
    private static void SetAside<T>(List<T> records, Func<T, string?> problem, Func<T, string> key, RangeResult range,
        List<QuarantinedRecord> quarantined)
    {
        records.RemoveAll(record =>
        {
            if (problem(record) is not { } reason)
            {
                return false;
            }
            var stored = key(record);
            quarantined.Add(new QuarantinedRecord(stored, range.Items.First(kv => kv.Key == stored).Value, reason));
            return true;
        });
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

/// <summary>A metadata record set aside, with why it cannot be served.</summary>
internal sealed record QuarantinedRecord(string Key, byte[] Value, string Reason);
