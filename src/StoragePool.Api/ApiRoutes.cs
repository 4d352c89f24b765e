namespace StoragePool.Api;

/// <summary>
/// The REST API's routes, in one place for the server and the client. Every route needs
/// <c>Authorization: Bearer TOKEN</c>. Names in paths are validated names, so they need no escaping.
/// </summary>
public static class ApiRoutes
{
    public const string Status = "/v1/status";
    public const string Stores = "/v1/stores";
    public const string Pools = "/v1/pools";
    public const string Volumes = "/v1/volumes";
    public const string Metrics = "/metrics";
    public const string Exports = "/v1/exports";

    public static string Store(string name) => $"{Stores}/{name}";

    /// <summary>NBD URIs of <c>pool/volume</c> or <c>pool/volume@snap</c> (the name keeps its '/').</summary>
    public static string Export(string name) => $"{Exports}/{name}";

    public static string Pool(string name) => $"{Pools}/{name}";

    /// <summary>GET lists (optionally <c>?pool=</c>), POST creates in <c>/v1/pools/{pool}/volumes</c>.</summary>
    public static string PoolVolumes(string pool) => $"{Pool(pool)}/volumes";

    /// <summary>The <c>&lt;pool&gt;</c> XML of the libvirt pool over the pool's FUSE directory.</summary>
    public static string PoolLibvirtXml(string pool) => $"{Pool(pool)}/libvirt-xml";

    /// <summary>A <c>&lt;disk&gt;</c> element for a domain (<c>?source=nbd|file&amp;target=vdb</c>).</summary>
    public static string VolumeDiskXml(string pool, string name) => $"{Volume(pool, name)}/disk-xml";

    public static string Volume(string pool, string name) => $"{PoolVolumes(pool)}/{name}";

    public static string VolumeResize(string pool, string name) => $"{Volume(pool, name)}/resize";

    public static string VolumeRevert(string pool, string name) => $"{Volume(pool, name)}/revert";

    public static string VolumeClone(string pool, string name) => $"{Volume(pool, name)}/clone";

    public static string Snapshots(string pool, string volume) => $"{Volume(pool, volume)}/snapshots";

    public static string Snapshot(string pool, string volume, string name) => $"{Snapshots(pool, volume)}/{name}";

    public const string Jobs = "/v1/jobs";

    public static string Job(string id) => $"{Jobs}/{id}";

    public static string JobCancel(string id) => $"{Job(id)}/cancel";

    public static string JobResume(string id) => $"{Job(id)}/resume";

    /// <summary>Daemon to daemon: the receiving side of a transfer.</summary>
    public const string Transfers = "/v1/transfers";

    public static string Transfer(string id) => $"{Transfers}/{id}";

    public static string TransferKnown(string id) => $"{Transfer(id)}/known";

    public static string TransferComplete(string id) => $"{Transfer(id)}/complete";
}
