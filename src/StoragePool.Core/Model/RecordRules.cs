using StoragePool.Core.Naming;

namespace StoragePool.Core.Model;

/// <summary>
/// What makes a stored record one the daemon can serve: names by the name rules, ids fit to name files, a key that
/// says what the record says, sizes that are not negative, an absolute store path. A record older builds let in that
/// breaks one of these is set aside at start (quarantined) rather than served, so it can never crash an operation,
/// a listing or the file system. Each returns null for a good record, else why not (a sentence fragment).
/// </summary>
public static class RecordRules
{
    public static string? Problem(StoreRecord store, string keyName) =>
        NameProblem("store name", store.Name)
        ?? KeyProblem(keyName, store.Name)
        ?? (string.IsNullOrEmpty(store.Path) || store.Path.Contains('\0', StringComparison.Ordinal) || !Path.IsPathFullyQualified(store.Path)
            ? $"its path '{Names.Display(store.Path)}' is not an absolute path"
            : null);

    public static string? Problem(PoolRecord pool, string keyName) =>
        NameProblem("pool name", pool.Name)
        ?? NameProblem("store name", pool.Store)
        ?? KeyProblem(keyName, pool.Name);

    public static string? Problem(VolumeRecord volume, string keyName) =>
        NameProblem("pool name", volume.Pool)
        ?? NameProblem("volume name", volume.Name)
        ?? NameProblem("id", volume.Id)
        ?? KeyProblem(keyName, $"{volume.Pool}/{volume.Name}")
        ?? SizeProblem(volume.SizeBytes)
        ?? (volume.PendingSize is < 0 ? $"its pending size {volume.PendingSize} is negative" : null)
        ?? (volume.PendingSnapshotId is { } pending ? NameProblem("pending snapshot id", pending) : null);

    public static string? Problem(SnapshotRecord snapshot, string keyName) =>
        NameProblem("pool name", snapshot.Pool)
        ?? NameProblem("volume name", snapshot.Volume)
        ?? NameProblem("snapshot name", snapshot.Name)
        ?? NameProblem("id", snapshot.Id)
        ?? NameProblem("volume id", snapshot.VolumeId)
        ?? KeyProblem(keyName, $"{snapshot.Pool}/{snapshot.Volume}@{snapshot.Name}")
        ?? SizeProblem(snapshot.SizeBytes);

    private static string? NameProblem(string what, string? name) =>
        Names.Problem(name) is { } problem ? $"its {what} '{Names.Display(name)}' {problem}" : null;

    private static string? KeyProblem(string keyName, string recordName) =>
        keyName == recordName ? null : $"its key names '{Names.Display(keyName)}' but the record '{Names.Display(recordName)}'";

    private static string? SizeProblem(long size) => size < 0 ? $"its size {size} is negative" : null;
}
