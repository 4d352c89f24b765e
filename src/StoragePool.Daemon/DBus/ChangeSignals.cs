using StoragePool.Core.Model;

namespace StoragePool.Daemon.DBus;

/// <summary>
/// The manager's signals, one per kind of object and kind of change: <c>VolumeAdded(o path, s pool,
/// s name)</c> and so on. They are sent from the manager's path, so one match rule sees them all.
/// </summary>
internal static class ChangeSignals
{
    public static BusSignal[] All { get; } =
    [
        .. Each(ObjectKind.Store, [new("name", "s")]),
        .. Each(ObjectKind.Pool, [new("pool", "o"), new("name", "s")]),
        .. Each(ObjectKind.Volume, [new("volume", "o"), new("pool", "s"), new("name", "s")]),
        .. Each(ObjectKind.Snapshot, [new("volume", "o"), new("pool", "s"), new("volume_name", "s"), new("name", "s")]),
    ];

    public static string MemberOf(ObjectChange change) => $"{change.Kind}{change.Change}";

    /// <summary>The signal's arguments for <paramref name="change"/>, whose name is <c>store</c>, <c>pool</c>, <c>pool/volume</c> or <c>pool/volume@snap</c>.</summary>
    public static Action<MessageWriter> BodyOf(ObjectChange change)
    {
        var name = change.Name;
        switch (change.Kind)
        {
            case ObjectKind.Store:
                return w => w.String(name);
            case ObjectKind.Pool:
                return w =>
                {
                    w.ObjectPath(ObjectPaths.ForPool(name));
                    w.String(name);
                };
            case ObjectKind.Volume:
                {
                    var (pool, volume) = Split(name, '/');
                    return w =>
                    {
                        w.ObjectPath(ObjectPaths.ForVolume(pool, volume));
                        w.String(pool);
                        w.String(volume);
                    };
                }
            default:
                {
                    var (volumeName, snapshot) = Split(name, '@');
                    var (pool, volume) = Split(volumeName, '/');
                    return w =>
                    {
                        w.ObjectPath(ObjectPaths.ForVolume(pool, volume));
                        w.String(pool);
                        w.String(volume);
                        w.String(snapshot);
                    };
                }
        }
    }

    private static IEnumerable<BusSignal> Each(ObjectKind kind, BusArgument[] arguments) =>
        Enum.GetValues<ChangeKind>().Select(change => new BusSignal($"{kind}{change}", arguments));

    private static (string Left, string Right) Split(string text, char separator)
    {
        var at = text.LastIndexOf(separator);
        return at < 0 ? (text, string.Empty) : (text[..at], text[(at + 1)..]);
    }
}
