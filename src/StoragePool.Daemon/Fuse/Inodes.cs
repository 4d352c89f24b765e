using System.Collections.Concurrent;

namespace StoragePool.Daemon.Fuse;

/// <summary>What an inode of the file system is.</summary>
internal enum NodeKind
{
    Root,
    Pool,
    VolumesDir,
    SnapshotsDir,
    Volume,
    Snapshot,
}

/// <summary>
/// One inode. <see cref="Name"/> is its name in its directory (a snapshot's is <c>VOLUME@SNAP</c>); files carry the
/// incarnation <see cref="Id"/> of their volume or snapshot, so a volume deleted and made again is a new inode.
/// </summary>
internal sealed record Node(ulong Ino, NodeKind Kind, string Pool, string Name, string? Id)
{
    public bool IsDirectory => Kind is NodeKind.Root or NodeKind.Pool or NodeKind.VolumesDir or NodeKind.SnapshotsDir;

    /// <summary>The name the pool manager knows: <c>pool/volume</c>, <c>pool/volume@snap</c>, or the pool's.</summary>
    public string ObjectName => Kind is NodeKind.Volume or NodeKind.Snapshot ? $"{Pool}/{Name}" : Pool;

    public string Path => Kind switch
    {
        NodeKind.Root => "/",
        NodeKind.Pool => $"/{Pool}",
        NodeKind.VolumesDir => $"/{Pool}/volumes",
        NodeKind.SnapshotsDir => $"/{Pool}/snapshots",
        NodeKind.Volume => $"/{Pool}/volumes/{Name}",
        _ => $"/{Pool}/snapshots/{Name}",
    };
}

/// <summary>
/// Inode numbers, handed out on first sight and never reused while mounted (so the kernel's forget needs no answer).
/// </summary>
internal sealed class Inodes
{
    public const ulong RootIno = 1;

    private readonly ConcurrentDictionary<ulong, Node> _byIno = new();
    private readonly ConcurrentDictionary<(NodeKind, string, string, string?), Node> _byIdentity = new();
    private long _last = (long)RootIno;

    public Inodes()
    {
        Root = new Node(RootIno, NodeKind.Root, string.Empty, string.Empty, null);
        _byIno[RootIno] = Root;
    }

    public Node Root { get; }

    public Node Of(NodeKind kind, string pool, string name, string? id = null) =>
        _byIdentity.GetOrAdd((kind, pool, name, id), static (key, self) =>
        {
            var node = new Node((ulong)Interlocked.Increment(ref self._last), key.Item1, key.Item2, key.Item3, key.Item4);
            self._byIno[node.Ino] = node;
            return node;
        }, this);

    public Node? Find(ulong ino) => _byIno.TryGetValue(ino, out var node) ? node : null;

    /// <summary>Every inode the kernel may have cached under this name (one per incarnation seen).</summary>
    public IEnumerable<Node> Named(NodeKind kind, string pool, string name) =>
        _byIdentity.Where(kv => kv.Key.Item1 == kind && kv.Key.Item2 == pool && kv.Key.Item3 == name).Select(kv => kv.Value);
}
