using System.Runtime.InteropServices;
using System.Text;
using StoragePool.Cluster.Control;
using StoragePool.Daemon.Hosting;
using Libc = StoragePool.Interop.Interop.Libc;
using Native = StoragePool.Interop.Interop.Native;

namespace StoragePool.Daemon.Fuse;

/// <summary>
/// Mounts the FUSE file system (<c>--fuse-mount</c>) through the native shim, whose request threads call the
/// static entry points below, and tells the kernel to forget what changed through other surfaces. Without
/// <c>/dev/fuse</c>, or when the mount fails, it logs one warning and the daemon runs on.
/// </summary>
internal sealed class FuseService(PoolManager pool, DaemonOptions options, ILogger<FuseService> logger) : IHostedService, IDisposable
{
    /// <summary>Request threads: each runs one request at a time, so this is the queue depth the file system serves.</summary>
    private const uint Threads = 16;

    /// <summary>The largest write the kernel sends in one request.</summary>
    private const uint MaxWrite = 1 << 20;

    /// <summary>The one mounted file system of this process: the native entry points are static.</summary>
    private static VolumeFileSystem? _fs;

    private nint _session;
    private CancellationTokenSource? _stop;
    private Task? _watcher;

    public string? Mount => _session != 0 ? options.Fuse?.Mount : null;

    public unsafe Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Fuse?.Mount is not { } mount)
        {
            return Task.CompletedTask;
        }
        if (!File.Exists("/dev/fuse"))
        {
            logger.FuseUnavailable(mount, "this system has no /dev/fuse (load the fuse module)");
            return Task.CompletedTask;
        }
        if (DetachStale(mount))
        {
            logger.FuseStaleMountDetached(mount);
        }
        DaemonHost.RuntimeDirectory(mount);
        var fs = new VolumeFileSystem(pool, options.Fuse, logger);
        Interlocked.Exchange(ref _fs, fs);
        // root mounts for every user (libvirt hands disks to libvirt-qemu); the kernel checks modes and owners
        var mountOptions = Encoding.UTF8.GetBytes(
            (Environment.IsPrivilegedProcess ? "allow_other," : string.Empty) + "default_permissions,fsname=storagepool,subtype=storagepool\0");
        var ops = new Native.FuseOps
        {
            Lookup = &Lookup,
            GetAttr = &GetAttr,
            SetAttr = &SetAttr,
            ReadDir = &ReadDir,
            Open = &Open,
            Create = &Create,
            Read = &Read,
            Write = &Write,
            FSync = &FSync,
            Release = &Release,
            Unlink = &Unlink,
            StatFs = &StatFs,
            FAllocate = &FAllocate,
            LSeek = &LSeek,
            GetXAttr = &GetXAttr,
            ListXAttr = &ListXAttr,
        };
        int result;
        fixed (byte* optionBytes = mountOptions)
        {
            var config = new Native.FuseConfig { Threads = Threads, MaxWrite = MaxWrite, Options = optionBytes };
            result = Native.FuseMount(mount, &config, &ops, out _session);
        }
        if (result != 0)
        {
            logger.FuseUnavailable(mount, $"mounting failed ({Marshal.GetPInvokeErrorMessage(-result)}; libfuse's message is above)");
            _session = 0;
            return Task.CompletedTask;
        }
        logger.FuseMounted(mount, Threads);
        _stop = new CancellationTokenSource();
        _watcher = InvalidateChangesAsync(fs, _stop.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_session == 0)
        {
            return;
        }
        await _stop!.CancelAsync();
        try
        {
            await _watcher!;
        }
        catch (OperationCanceledException)
        {
        }
        var session = _session;
        _session = 0;
        // answers the requests in flight, ends the request threads, then unmounts
        await Task.Run(() => Native.FuseUnmount(session), CancellationToken.None);
        await _fs!.CloseAllAsync();
        logger.FuseUnmounted(options.Fuse!.Mount!);
    }

    public void Dispose() => _stop?.Dispose();

    /// <summary>Detaches a mount left on <paramref name="mount"/> by a daemon that died (its directory then fails with ENOTCONN).</summary>
    private static bool DetachStale(string mount)
    {
        var mounted = File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Any(fields => fields.Length > 4 && Unescape(fields[4]) == mount);
        return mounted && Libc.Umount2(mount, Libc.MntDetach) == 0;
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as octal escapes.</summary>
    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
            .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);

    private async Task InvalidateChangesAsync(VolumeFileSystem fs, CancellationToken ct)
    {
        await Task.Yield();
        await foreach (var change in pool.WatchChangesAsync(ct))
        {
            foreach (var (parent, name, inode) in fs.Invalidations(change))
            {
                // a failure only means the kernel had nothing cached under that name or inode
                _ = name is not null ? Native.FuseNotifyInvalEntry(_session, parent.Ino, name) : 0;
                _ = inode is not null ? Native.FuseNotifyInvalInode(_session, inode.Ino) : 0;
            }
        }
    }

    // ------------------------------------------------------------------ entry points of the shim's request threads

    private static unsafe string Text(byte* name) => Marshal.PtrToStringUTF8((nint)name) ?? string.Empty;

    [UnmanagedCallersOnly]
    private static unsafe void Lookup(ulong req, ulong parent, byte* name) => _fs!.Lookup(req, parent, Text(name));

    [UnmanagedCallersOnly]
    private static unsafe void GetAttr(ulong req, ulong ino) => _fs!.GetAttr(req, ino);

    [UnmanagedCallersOnly]
    private static unsafe void SetAttr(ulong req, ulong ino, Native.FuseSetAttr* attr) => _fs!.SetAttr(req, ino, *attr);

    [UnmanagedCallersOnly]
    private static unsafe void ReadDir(ulong req, ulong ino, ulong size, long offset) => _fs!.ReadDir(req, ino, size, offset);

    [UnmanagedCallersOnly]
    private static unsafe void Open(ulong req, ulong ino, int flags) => _fs!.Open(req, ino, flags);

    [UnmanagedCallersOnly]
    private static unsafe void Create(ulong req, ulong parent, byte* name, uint mode, int flags, uint uid, uint gid) =>
        _fs!.Create(req, parent, Text(name), mode, flags, uid, gid);

    [UnmanagedCallersOnly]
    private static unsafe void Read(ulong req, ulong fh, long offset, ulong size) => _fs!.Read(req, fh, offset, size);

    [UnmanagedCallersOnly]
    private static unsafe void Write(ulong req, ulong fh, long offset, byte* data, ulong size) => _fs!.Write(req, fh, offset, (nint)data, size);

    [UnmanagedCallersOnly]
    private static unsafe void FSync(ulong req, ulong fh) => _fs!.FSync(req, fh);

    [UnmanagedCallersOnly]
    private static unsafe void Release(ulong req, ulong fh) => _fs!.Release(req, fh);

    [UnmanagedCallersOnly]
    private static unsafe void Unlink(ulong req, ulong parent, byte* name) => _fs!.Unlink(req, parent, Text(name));

    [UnmanagedCallersOnly]
    private static unsafe void StatFs(ulong req, ulong ino) => _fs!.StatFs(req, ino);

    [UnmanagedCallersOnly]
    private static unsafe void FAllocate(ulong req, ulong fh, int mode, long offset, long length) => _fs!.FAllocate(req, fh, mode, offset, length);

    [UnmanagedCallersOnly]
    private static unsafe void LSeek(ulong req, ulong fh, long offset, int whence) => _fs!.LSeek(req, fh, offset, whence);

    [UnmanagedCallersOnly]
    private static unsafe void GetXAttr(ulong req, ulong ino, byte* name, ulong size) => _fs!.GetXAttr(req, ino, Text(name), size);

    [UnmanagedCallersOnly]
    private static unsafe void ListXAttr(ulong req, ulong ino, ulong size) => _fs!.ListXAttr(req, ino, size);
}
