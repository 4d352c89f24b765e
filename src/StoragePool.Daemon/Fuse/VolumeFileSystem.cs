using System.Collections.Concurrent;
using System.Text;
using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Daemon.Hosting;
using StoragePool.Storage.IO;
using Native = StoragePool.Interop.Interop.Native;

namespace StoragePool.Daemon.Fuse;

/// <summary>
/// The file system behind the FUSE mount: <c>/POOL/volumes/NAME</c> is a volume, <c>/POOL/snapshots/NAME@SNAP</c> a
/// snapshot (read-only). File operations become pool operations (create, unlink, truncate, chmod/chown) and volume
/// I/O through the one I/O core, so every write passes the same write path as NBD's.
/// <para>
/// Each method answers its request exactly once. Metadata operations answer from the thread pool when their pool
/// operation completes. Reads and writes run on the libfuse request thread that delivered them and answer before
/// returning: a write's bytes live in libfuse's buffer only until then, and the file store's I/O is synchronous
/// anyway (so this is the fast path, with no hop between threads).
/// </para>
/// </summary>
internal sealed class VolumeFileSystem(PoolManager pool, FuseSettings settings, ILogger logger)
{
    /// <summary>How long the kernel may cache names and attributes; changes made elsewhere are pushed at once (<see cref="Invalidate"/>).</summary>
    private const double CacheSeconds = 1.0;

    private const int EPERM = 1;
    private const int ENOENT = 2;
    private const int EIO = 5;
    private const int EBADF = 9;
    private const int EROFS = 30;
    private const int ENXIO = 6;
    private const int ERANGE = 34;
    private const int ENODATA = 61;
    private const int EOPNOTSUPP = 95;

    private const int SeekData = 3;
    private const int SeekHole = 4;

    private const int FallocKeepSize = 0x01;
    private const int FallocPunchHole = 0x02;
    private const int FallocZeroRange = 0x10;

    private const uint DirectoryMode = 0x4000 | 0x1ed; // S_IFDIR | 0755
    private const uint RegularFile = 0x8000;           // S_IFREG
    private const uint SnapshotMode = 0x100 | 0x20;    // 0440: read-only for owner and group

    private const string XAttrPrefix = "user.storagepool.";
    private static readonly string[] XAttrNames = ["id", "state", "name", "kind"];

    /// <summary>Per request thread: where a read is assembled before it goes to the kernel.</summary>
    [ThreadStatic]
    private static byte[]? _readBuffer;

    [ThreadStatic]
    private static PointerMemory? _writeMemory;

    private readonly ConcurrentDictionary<ulong, OpenFile> _files = new();
    private readonly DateTimeOffset _mounted = DateTimeOffset.UtcNow;
    private long _lastHandle;

    public Inodes Inodes { get; } = new();

    // ------------------------------------------------------------------ names and attributes

    public void Lookup(ulong req, ulong parent, string name) => Run(req, "lookup", name, async () =>
    {
        var node = await ChildAsync(Directory(parent), name);
        var attr = await AttrOfAsync(node);
        FuseReply.Entry(req, attr, CacheSeconds);
    });

    public void GetAttr(ulong req, ulong ino) => Run(req, "stat", ino, async () =>
    {
        var attr = await AttrOfAsync(NodeOf(ino));
        FuseReply.Attr(req, attr, CacheSeconds);
    });

    public void SetAttr(ulong req, ulong ino, Native.FuseSetAttr change) => Run(req, "setattr", ino, async () =>
    {
        var node = NodeOf(ino);
        var changes = change.Valid & (Native.FuseSetMode | Native.FuseSetUid | Native.FuseSetGid | Native.FuseSetSize);
        if (changes != 0)
        {
            if (node.Kind == NodeKind.Snapshot)
            {
                throw new FuseError(EROFS);
            }
            if (node.Kind != NodeKind.Volume)
            {
                throw new FuseError(EPERM);
            }
            var volume = VolumeRef.Parse(node.ObjectName);
            if ((change.Valid & Native.FuseSetSize) != 0)
            {
                await pool.ResizeVolumeFileAsync(volume, checked((long)change.Size), settings.AllowShrink);
            }
            if ((changes & (Native.FuseSetMode | Native.FuseSetUid | Native.FuseSetGid)) != 0)
            {
                var now = (await VolumeOfAsync(node)).Ownership ?? FileOwnership.Default;
                await pool.SetVolumeOwnershipAsync(volume, new FileOwnership(
                    (change.Valid & Native.FuseSetUid) != 0 ? (int)change.Uid : now.Uid,
                    (change.Valid & Native.FuseSetGid) != 0 ? (int)change.Gid : now.Gid,
                    (change.Valid & Native.FuseSetMode) != 0 ? (int)(change.Mode & 0xfff) : now.Mode));
            }
        }
        // times are not kept: a volume's file shows when the volume was made
        var attr = await AttrOfAsync(node);
        FuseReply.Attr(req, attr, CacheSeconds);
    });

    /// <summary>
    /// A listing comes in pieces (the kernel asks for a page at a time), each from the current children. An entry's
    /// offset is therefore its own, not its place in a list that changes between pieces: "." is 1, ".." 2, a child its
    /// inode number + 2, children in inode order (numbers are never reused, and a name seen first gets a higher one).
    /// A volume made or deleted meanwhile then shifts no other name: none is listed twice or missed (libvirt's refresh
    /// of a dir pool stops the pool when a name comes twice).
    /// </summary>
    public void ReadDir(ulong req, ulong ino, ulong size, long offset) => Run(req, "readdir", ino, async () =>
    {
        var node = Directory(ino);
        var parent = node.Kind == NodeKind.Root ? node : Parent(node);
        var entries = new List<(ulong, uint, string, long Offset)> { (node.Ino, DirectoryMode, ".", 1), (parent.Ino, DirectoryMode, "..", 2) };
        foreach (var child in (await ChildrenAsync(node)).OrderBy(c => c.Ino))
        {
            entries.Add((child.Ino, child.IsDirectory ? DirectoryMode : RegularFile, child.Name, (long)child.Ino + 2));
        }
        FuseReply.Directory(req, entries.Where(e => e.Offset > offset).ToList(), size);
    });

    public void StatFs(ulong req, ulong ino) => Run(req, "statfs", ino, async () =>
    {
        var node = NodeOf(ino);
        long capacity, free;
        int files;
        if (node.Kind == NodeKind.Root)
        {
            var status = await pool.GetStatusAsync();
            (capacity, free, files) = (status.Stores.Sum(s => s.CapacityBytes), status.Stores.Sum(s => s.FreeBytes), status.VolumeCount);
        }
        else
        {
            var info = await pool.GetPoolAsync(node.Pool);
            (capacity, free, files) = (info.CapacityBytes, info.FreeBytes, info.VolumeCount);
        }
        const long block = 4096;
        FuseReply.StatFs(req, block, (ulong)(capacity / block), (ulong)(free / block), (ulong)files, 255);
    });

    public void GetXAttr(ulong req, ulong ino, string name, ulong size) => Run(req, "getxattr", ino, async () =>
    {
        var node = NodeOf(ino);
        if (!name.StartsWith(XAttrPrefix, StringComparison.Ordinal))
        {
            // no other attribute is kept, so other names are unsupported rather than absent: libvirt then skips
            // remembering owners in trusted.libvirt.security.* instead of failing to set them (setxattr is ENOTSUP)
            throw new FuseError(EOPNOTSUPP);
        }
        if (node.IsDirectory)
        {
            throw new FuseError(ENODATA);
        }
        var facts = await XAttrsOfAsync(node);
        if (!facts.TryGetValue(name[XAttrPrefix.Length..], out var value))
        {
            throw new FuseError(ENODATA);
        }
        ReplyXAttr(req, Encoding.UTF8.GetBytes(value), size);
    });

    public void ListXAttr(ulong req, ulong ino, ulong size) => Run(req, "listxattr", ino, () =>
    {
        var node = NodeOf(ino);
        var list = node.IsDirectory ? [] : Encoding.UTF8.GetBytes(string.Concat(XAttrNames.Select(n => XAttrPrefix + n + "\0")));
        ReplyXAttr(req, list, size);
        return Task.CompletedTask;
    });

    // ------------------------------------------------------------------ creating and removing volumes

    public void Create(ulong req, ulong parent, string name, uint mode, int flags, uint uid, uint gid) => Run(req, "create", name, async () =>
    {
        var directory = Directory(parent);
        if (directory.Kind == NodeKind.SnapshotsDir)
        {
            throw new FuseError(EROFS);
        }
        if (directory.Kind != NodeKind.VolumesDir)
        {
            throw new FuseError(EPERM);
        }
        var volume = new VolumeRef(directory.Pool, name);
        var created = await pool.CreateVolumeFileAsync(volume, new FileOwnership((int)uid, (int)gid, (int)(mode & 0xfff)));
        var node = Inodes.Of(NodeKind.Volume, volume.Pool, volume.Name, created.Volume.Id);
        var handle = await OpenAsync(node);
        var attr = AttrOf(node, created.Volume);
        if (!FuseReply.Create(req, attr, CacheSeconds, handle, Native.FuseOpenDirectIo))
        {
            await CloseAsync(handle); // the creator is gone (interrupted): nobody will release this handle
        }
    });

    public void Unlink(ulong req, ulong parent, string name) => Run(req, "unlink", name, async () =>
    {
        var directory = Directory(parent);
        if (directory.Kind == NodeKind.SnapshotsDir)
        {
            throw new FuseError(EROFS);
        }
        if (directory.Kind != NodeKind.VolumesDir)
        {
            throw new FuseError(EPERM);
        }
        await pool.DeleteVolumeAsync(new VolumeRef(directory.Pool, name), withSnapshots: false);
        FuseReply.Ok(req);
    });

    // ------------------------------------------------------------------ open files

    public void Open(ulong req, ulong ino, int flags) => Run(req, "open", ino, async () =>
    {
        var node = NodeOf(ino);
        var writable = (flags & 3) != 0; // O_ACCMODE != O_RDONLY
        if (node.Kind == NodeKind.Snapshot && writable)
        {
            throw new FuseError(EROFS);
        }
        if (node.IsDirectory)
        {
            throw new FuseError(21); // EISDIR
        }
        var handle = await OpenAsync(node);
        // Direct I/O: no page cache in between, so NBD and the file always see the same bytes and O_DIRECT just works.
        if (!FuseReply.Open(req, handle, Native.FuseOpenDirectIo | Native.FuseOpenParallelWrites))
        {
            await CloseAsync(handle);
        }
    });

    public void Release(ulong req, ulong handle) => Run(req, "release", handle, async () =>
    {
        await CloseAsync(handle);
        FuseReply.Ok(req);
    });

    public void Read(ulong req, ulong handle, long offset, ulong size)
    {
        try
        {
            var volume = VolumeOf(handle);
            var count = (int)Math.Max(0, Math.Min((long)size, volume.Size - offset));
            var buffer = _readBuffer is { } b && b.Length >= count ? b : _readBuffer = GC.AllocateUninitializedArray<byte>(Math.Max(count, 1 << 20), pinned: true);
            if (count > 0)
            {
                Finish(volume.ReadAsync(offset, buffer.AsMemory(0, count)));
            }
            FuseReply.Data(req, buffer.AsSpan(0, count));
        }
        catch (Exception e)
        {
            Fail(req, "read", handle, e);
        }
    }

    public void Write(ulong req, ulong handle, long offset, nint data, ulong size)
    {
        try
        {
            var file = FileOf(handle);
            var volume = file.Lease.Volume;
            var end = offset + (long)size;
            if (end > volume.Size)
            {
                // a write past the end makes the file longer, as on any file system: the volume grows first
                Finish(new ValueTask(GrowAsync(file, end)));
            }
            var memory = _writeMemory ??= new PointerMemory();
            memory.Set(data, (int)size);
            Finish(volume.WriteAsync(offset, memory.Memory, WriteOptions.None));
            FuseReply.Written(req, size);
        }
        catch (Exception e)
        {
            Fail(req, "write", handle, e);
        }
    }

    public void FSync(ulong req, ulong handle) => Run(req, "fsync", handle, async () =>
    {
        await VolumeOf(handle).FlushAsync();
        FuseReply.Ok(req);
    });

    public void FAllocate(ulong req, ulong handle, int mode, long offset, long length) => Run(req, "fallocate", handle, async () =>
    {
        var file = FileOf(handle);
        var volume = file.Lease.Volume;
        var end = offset + length;
        var keepSize = (mode & FallocKeepSize) != 0;
        switch (mode & ~FallocKeepSize)
        {
            case 0:
                break; // reserve: volumes are thin, admission reserved their size when they were made or grown
            case FallocPunchHole when keepSize:
                if (offset < volume.Size)
                {
                    await volume.TrimAsync(offset, Math.Min(end, volume.Size) - offset, WriteOptions.None);
                }
                break;
            case FallocZeroRange:
                if (!keepSize && end > volume.Size)
                {
                    await GrowAsync(file, end);
                }
                if (offset < volume.Size)
                {
                    await volume.WriteZeroesAsync(offset, Math.Min(end, volume.Size) - offset, WriteOptions.NoHole);
                }
                break;
            default:
                throw new FuseError(EOPNOTSUPP);
        }
        if (mode == 0 && end > volume.Size)
        {
            await GrowAsync(file, end);
        }
        FuseReply.Ok(req);
    });

    /// <summary>SEEK_DATA and SEEK_HOLE from the volume's block status (the kernel answers the other whences itself).</summary>
    public void LSeek(ulong req, ulong handle, long offset, int whence) => Run(req, "lseek", handle, async () =>
    {
        var volume = VolumeOf(handle);
        if (whence is not (SeekData or SeekHole))
        {
            throw new FuseError(22); // EINVAL
        }
        if (offset < 0 || offset >= volume.Size)
        {
            throw new FuseError(ENXIO);
        }
        var position = offset;
        while (position < volume.Size)
        {
            foreach (var run in await volume.GetBlockStatusAsync(position, volume.Size - position))
            {
                if (run.Hole == (whence == SeekHole))
                {
                    FuseReply.Position(req, Math.Max(offset, run.Offset));
                    return;
                }
                position = run.Offset + run.Length;
            }
        }
        if (whence == SeekData)
        {
            throw new FuseError(ENXIO);
        }
        FuseReply.Position(req, volume.Size); // the end of a file is a hole
    });

    // ------------------------------------------------------------------ changes made elsewhere

    /// <summary>The inodes and names to drop from the kernel's cache when <paramref name="change"/> happened (through the CLI, REST or D-Bus).</summary>
    public IEnumerable<(Node Parent, string? Name, Node? Inode)> Invalidations(ObjectChange change)
    {
        switch (change.Kind)
        {
            case ObjectKind.Pool:
                yield return (Inodes.Root, change.Name, null);
                break;
            case ObjectKind.Volume:
                var volume = VolumeRef.Parse(change.Name);
                yield return (Inodes.Of(NodeKind.VolumesDir, volume.Pool, "volumes"), volume.Name, null);
                foreach (var node in Inodes.Named(NodeKind.Volume, volume.Pool, volume.Name))
                {
                    yield return (node, null, node);
                }
                break;
            case ObjectKind.Snapshot:
                var snapshot = SnapshotRef.Parse(change.Name);
                yield return (Inodes.Of(NodeKind.SnapshotsDir, snapshot.Pool, "snapshots"), $"{snapshot.Volume}@{snapshot.Name}", null);
                break;
        }
    }

    /// <summary>Closes every open file (the mount is going away).</summary>
    public async Task CloseAllAsync()
    {
        foreach (var handle in _files.Keys)
        {
            await CloseAsync(handle);
        }
    }

    // ------------------------------------------------------------------ helpers

    private async Task<ulong> OpenAsync(Node node)
    {
        var lease = await pool.OpenAsync(node.ObjectName, VolumeHolder.File);
        var handle = (ulong)Interlocked.Increment(ref _lastHandle);
        _files[handle] = new OpenFile(node, lease);
        // a forced delete takes the volume away: let go at once, later I/O on this handle fails with EIO
        lease.Volume.Revoked.Register(static state =>
        {
            var (self, h) = ((VolumeFileSystem, ulong))state!;
            _ = self.CloseAsync(h);
        }, (this, handle));
        return handle;
    }

    private async Task CloseAsync(ulong handle)
    {
        if (_files.TryRemove(handle, out var file))
        {
            await file.Lease.DisposeAsync();
        }
    }

    private async Task GrowAsync(OpenFile file, long size) =>
        await pool.ResizeVolumeFileAsync(VolumeRef.Parse(file.Node.ObjectName), size, settings.AllowShrink);

    private OpenFile FileOf(ulong handle) =>
        _files.TryGetValue(handle, out var file) ? file : throw new FuseError(EBADF);

    private IBlockVolume VolumeOf(ulong handle) => FileOf(handle).Lease.Volume;

    private Node NodeOf(ulong ino) => Inodes.Find(ino) ?? throw new FuseError(ENOENT);

    private Node Directory(ulong ino)
    {
        var node = NodeOf(ino);
        return node.IsDirectory ? node : throw new FuseError(20); // ENOTDIR
    }

    private Node Parent(Node node) => node.Kind switch
    {
        NodeKind.Pool => Inodes.Root,
        NodeKind.VolumesDir or NodeKind.SnapshotsDir => Inodes.Of(NodeKind.Pool, node.Pool, node.Pool),
        NodeKind.Volume => Inodes.Of(NodeKind.VolumesDir, node.Pool, "volumes"),
        NodeKind.Snapshot => Inodes.Of(NodeKind.SnapshotsDir, node.Pool, "snapshots"),
        _ => Inodes.Root,
    };

    private async Task<Node> ChildAsync(Node directory, string name)
    {
        switch (directory.Kind)
        {
            case NodeKind.Root when Names.IsValid(name):
                await pool.GetPoolAsync(name);
                return Inodes.Of(NodeKind.Pool, name, name);
            case NodeKind.Pool when name is "volumes":
                return Inodes.Of(NodeKind.VolumesDir, directory.Pool, name);
            case NodeKind.Pool when name is "snapshots":
                return Inodes.Of(NodeKind.SnapshotsDir, directory.Pool, name);
            case NodeKind.VolumesDir when Names.IsValid(name):
                var volume = await pool.GetVolumeAsync(new VolumeRef(directory.Pool, name));
                return volume.State == "ready" ? Inodes.Of(NodeKind.Volume, directory.Pool, name, volume.Id) : throw new FuseError(ENOENT);
            case NodeKind.SnapshotsDir when name.LastIndexOf('@') is > 0 and var at && Names.IsValid(name[..at]) && Names.IsValid(name[(at + 1)..]):
                var snapshot = await SnapshotOfAsync(directory.Pool, name[..at], name[(at + 1)..]);
                return Inodes.Of(NodeKind.Snapshot, directory.Pool, name, snapshot.Id);
            default:
                throw new FuseError(ENOENT);
        }
    }

    private async Task<IReadOnlyList<Node>> ChildrenAsync(Node directory)
    {
        switch (directory.Kind)
        {
            case NodeKind.Root:
                return (await pool.ListPoolsAsync()).Select(p => Inodes.Of(NodeKind.Pool, p.Name, p.Name)).ToList();
            case NodeKind.Pool:
                return [Inodes.Of(NodeKind.VolumesDir, directory.Pool, "volumes"), Inodes.Of(NodeKind.SnapshotsDir, directory.Pool, "snapshots")];
            case NodeKind.VolumesDir:
                return (await pool.ListVolumesAsync(directory.Pool)).Where(v => v.State == "ready")
                    .Select(v => Inodes.Of(NodeKind.Volume, v.Pool, v.Name, v.Id)).ToList();
            default:
                var children = new List<Node>();
                foreach (var volume in await pool.ListVolumesAsync(directory.Pool))
                {
                    foreach (var snapshot in await pool.ListSnapshotsAsync(new VolumeRef(volume.Pool, volume.Name)))
                    {
                        children.Add(Inodes.Of(NodeKind.Snapshot, volume.Pool, $"{volume.Name}@{snapshot.Name}", snapshot.Id));
                    }
                }
                return children;
        }
    }

    private async Task<VolumeInfo> VolumeOfAsync(Node node)
    {
        var volume = await pool.GetVolumeAsync(VolumeRef.Parse(node.ObjectName));
        // the same name may be a newer volume: this inode's volume is gone
        return volume.Id == node.Id && volume.State == "ready" ? volume : throw new FuseError(ENOENT);
    }

    private async Task<SnapshotInfo> SnapshotOfAsync(string poolName, string volume, string name) =>
        (await pool.ListSnapshotsAsync(new VolumeRef(poolName, volume))).FirstOrDefault(s => s.Name == name)
        ?? throw new FuseError(ENOENT);

    private async Task<Native.FuseAttr> AttrOfAsync(Node node)
    {
        switch (node.Kind)
        {
            case NodeKind.Volume:
                return AttrOf(node, await VolumeOfAsync(node));
            case NodeKind.Snapshot:
                var at = node.Name.LastIndexOf('@');
                var snapshot = await SnapshotOfAsync(node.Pool, node.Name[..at], node.Name[(at + 1)..]);
                if (snapshot.Id != node.Id)
                {
                    throw new FuseError(ENOENT);
                }
                return Attr(node, RegularFile | SnapshotMode, snapshot.SizeBytes, snapshot.AllocatedBytes, 0, 0, snapshot.CreatedAt);
            case NodeKind.Pool:
                var info = await pool.GetPoolAsync(node.Pool);
                return Attr(node, DirectoryMode, 0, 0, 0, 0, info.CreatedAt);
            default:
                return Attr(node, DirectoryMode, 0, 0, 0, 0, _mounted);
        }
    }

    private static Native.FuseAttr AttrOf(Node node, VolumeInfo volume)
    {
        var owner = volume.Ownership ?? FileOwnership.Default;
        return Attr(node, RegularFile | (uint)owner.Mode, volume.SizeBytes, volume.AllocatedBytes, owner.Uid, owner.Gid, volume.CreatedAt);
    }

    private static Native.FuseAttr Attr(Node node, uint mode, long size, long allocated, int uid, int gid, DateTimeOffset time)
    {
        var ns = (time.ToUnixTimeMilliseconds() * 1_000_000) + (time.Ticks % TimeSpan.TicksPerMillisecond * 100);
        return new Native.FuseAttr
        {
            Ino = node.Ino,
            Size = (ulong)size,
            Blocks = (ulong)((allocated + 511) / 512),
            Mode = mode,
            NLink = node.IsDirectory ? 2u : 1u,
            Uid = (uint)uid,
            Gid = (uint)gid,
            MTimeNs = ns,
            CTimeNs = ns,
        };
    }

    private async Task<Dictionary<string, string>> XAttrsOfAsync(Node node)
    {
        string state;
        if (node.Kind == NodeKind.Volume)
        {
            state = (await VolumeOfAsync(node)).State;
        }
        else
        {
            await AttrOfAsync(node); // still there
            state = "ready";
        }
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["id"] = node.Id!,
            ["state"] = state,
            ["name"] = node.ObjectName,
            ["kind"] = node.Kind == NodeKind.Volume ? "volume" : "snapshot",
        };
    }

    private static void ReplyXAttr(ulong req, byte[] value, ulong size)
    {
        if (size == 0)
        {
            FuseReply.XAttrSize(req, (ulong)value.Length);
        }
        else if (size < (ulong)value.Length)
        {
            FuseReply.Error(req, ERANGE);
        }
        else
        {
            FuseReply.Data(req, value);
        }
    }

    /// <summary>
    /// Waits for an I/O core request on the libfuse request thread. The file store completes its requests before
    /// returning, so this rarely waits; when it does, it blocks libfuse's own thread, never the thread pool's.
    /// </summary>
    private static void Finish(ValueTask pending)
    {
        if (pending.IsCompletedSuccessfully)
        {
            return;
        }
        pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Runs a metadata operation and answers the request with its errno if it fails.</summary>
    private void Run(ulong req, string operation, object subject, Func<Task> body)
    {
        Task task;
        try
        {
            task = body();
        }
        catch (Exception e)
        {
            Fail(req, operation, subject, e);
            return;
        }
        if (!task.IsCompletedSuccessfully)
        {
            _ = task.ContinueWith(t => Fail(req, operation, subject, t.Exception!.InnerException!),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void Fail(ulong req, string operation, object subject, Exception e)
    {
        var path = subject switch
        {
            ulong ino when operation is "read" or "write" or "fsync" or "fallocate" or "lseek" or "release" =>
                _files.TryGetValue(ino, out var file) ? file.Node.Path : $"handle {ino}",
            ulong ino => Inodes.Find(ino)?.Path ?? $"inode {ino}",
            _ => subject.ToString() ?? string.Empty,
        };
        int errno;
        switch (e)
        {
            case FuseError fuse:
                errno = fuse.Errno;
                break;
            case StoragePoolException storage:
                errno = storage.Code.Errno();
                if (operation is not ("lookup" or "stat" or "getxattr"))
                {
                    logger.FuseRefused(operation, path, storage.Message);
                }
                break;
            case ObjectDisposedException or OperationCanceledException:
                errno = EIO; // the volume was taken away (forced delete) or the daemon is stopping
                break;
            default:
                errno = EIO;
                logger.FuseFailed(operation, path, e);
                break;
        }
        FuseReply.Error(req, errno);
    }

    private sealed record OpenFile(Node Node, VolumeLease Lease);

    /// <summary>An errno to answer with, for refusals the file system makes itself.</summary>
    private sealed class FuseError(int errno) : Exception($"errno {errno}")
    {
        public int Errno { get; } = errno;
    }
}
