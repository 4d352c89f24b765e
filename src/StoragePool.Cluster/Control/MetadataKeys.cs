using StoragePool.Core.Model;

namespace StoragePool.Cluster.Control;

/// <summary>
/// Where each object lives in the metadata store. Names are validated (no '/'), so the keys
/// parse back unambiguously. Each prefix ends in '/', so <c>/volumes/p1/</c> never matches <c>p10</c>.
/// </summary>
internal static class MetadataKeys
{
    public const string Stores = "/stores/";
    public const string Pools = "/pools/";
    public const string Volumes = "/volumes/";
    public const string Snapshots = "/snapshots/";

    /// <summary>Where records that cannot be served are set aside, each under its old key (no object parses from here).</summary>
    public const string Quarantine = "/quarantine";

    public static string Store(string name) => Stores + name;

    public static string Pool(string name) => Pools + name;

    public static string PoolVolumes(string pool) => $"{Volumes}{pool}/";

    public static string Volume(string pool, string name) => $"{Volumes}{pool}/{name}";

    public static string VolumeSnapshots(string pool, string volume) => $"{Snapshots}{pool}/{volume}/";

    public static string Snapshot(string pool, string volume, string name) => $"{Snapshots}{pool}/{volume}/{name}";

    /// <summary>Which object a key names, with its full name (<c>pool/volume@snap</c>); null for keys of no object.</summary>
    public static (ObjectKind Kind, string Name)? Parse(string key)
    {
        if (key.StartsWith(Stores, StringComparison.Ordinal))
        {
            return (ObjectKind.Store, key[Stores.Length..]);
        }
        if (key.StartsWith(Pools, StringComparison.Ordinal))
        {
            return (ObjectKind.Pool, key[Pools.Length..]);
        }
        if (key.StartsWith(Volumes, StringComparison.Ordinal))
        {
            return (ObjectKind.Volume, key[Volumes.Length..]);
        }
        if (key.StartsWith(Snapshots, StringComparison.Ordinal))
        {
            var parts = key[Snapshots.Length..].Split('/');
            return parts.Length == 3 ? (ObjectKind.Snapshot, $"{parts[0]}/{parts[1]}@{parts[2]}") : null;
        }
        return null;
    }
}
