using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>
    /// libstoragepool-native.so (native/, built by its Makefile and copied beside the assemblies): the libfuse3
    /// low-level session with its request threads, calling back into C# through <see cref="FuseOps"/>. The layouts
    /// here mirror native/sp_fuse.h; every callback must answer its request exactly once with a Reply* call.
    /// </summary>
    internal static partial class Native
    {
        private const string Lib = "libstoragepool-native.so";

        // FuseSetAttr.Valid
        internal const uint FuseSetMode = 1u << 0;
        internal const uint FuseSetUid = 1u << 1;
        internal const uint FuseSetGid = 1u << 2;
        internal const uint FuseSetSize = 1u << 3;
        internal const uint FuseSetTimes = 1u << 4;
        internal const uint FuseSetFh = 1u << 31;

        // open and create reply flags
        internal const uint FuseOpenDirectIo = 1u << 0;
        internal const uint FuseOpenKeepCache = 1u << 1;
        internal const uint FuseOpenParallelWrites = 1u << 2;

        [StructLayout(LayoutKind.Sequential)]
        internal struct FuseAttr
        {
            public ulong Ino;
            public ulong Size;
            public ulong Blocks;
            public uint Mode;
            public uint NLink;
            public uint Uid;
            public uint Gid;
            public long MTimeNs;
            public long CTimeNs;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct FuseSetAttr
        {
            public uint Valid;
            public uint Mode;
            public uint Uid;
            public uint Gid;
            public ulong Size;
            public ulong Fh;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct FuseDirent
        {
            public ulong Ino;
            public long Off;
            public uint Mode;
            public uint Reserved;
            public byte* Name;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct FuseOps
        {
            public delegate* unmanaged<ulong, ulong, byte*, void> Lookup;
            public delegate* unmanaged<ulong, ulong, void> GetAttr;
            public delegate* unmanaged<ulong, ulong, FuseSetAttr*, void> SetAttr;
            public delegate* unmanaged<ulong, ulong, ulong, long, void> ReadDir;
            public delegate* unmanaged<ulong, ulong, int, void> Open;
            public delegate* unmanaged<ulong, ulong, byte*, uint, int, uint, uint, void> Create;
            public delegate* unmanaged<ulong, ulong, long, ulong, void> Read;
            public delegate* unmanaged<ulong, ulong, long, byte*, ulong, void> Write;
            public delegate* unmanaged<ulong, ulong, void> FSync;
            public delegate* unmanaged<ulong, ulong, void> Release;
            public delegate* unmanaged<ulong, ulong, byte*, void> Unlink;
            public delegate* unmanaged<ulong, ulong, void> StatFs;
            public delegate* unmanaged<ulong, ulong, int, long, long, void> FAllocate;
            public delegate* unmanaged<ulong, ulong, long, int, void> LSeek;
            public delegate* unmanaged<ulong, ulong, byte*, ulong, void> GetXAttr;
            public delegate* unmanaged<ulong, ulong, ulong, void> ListXAttr;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct FuseConfig
        {
            public uint Threads;
            public uint MaxWrite;
            public byte* Options;
        }

        [LibraryImport(Lib, EntryPoint = "sp_fuse_mount", StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int FuseMount(string mountpoint, FuseConfig* config, FuseOps* ops, out nint fs);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_unmount")]
        internal static partial void FuseUnmount(nint fs);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_notify_inval_inode")]
        internal static partial int FuseNotifyInvalInode(nint fs, ulong ino);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_notify_inval_entry", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int FuseNotifyInvalEntry(nint fs, ulong parent, string name);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_err")]
        internal static partial int FuseReplyErr(ulong req, int err);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_entry")]
        internal static unsafe partial int FuseReplyEntry(ulong req, FuseAttr* attr, double timeout);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_attr")]
        internal static unsafe partial int FuseReplyAttr(ulong req, FuseAttr* attr, double timeout);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_open")]
        internal static partial int FuseReplyOpen(ulong req, ulong fh, uint flags);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_create")]
        internal static unsafe partial int FuseReplyCreate(ulong req, FuseAttr* attr, double timeout, ulong fh, uint flags);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_buf")]
        internal static unsafe partial int FuseReplyBuf(ulong req, byte* data, ulong size);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_write")]
        internal static partial int FuseReplyWrite(ulong req, ulong count);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_lseek")]
        internal static partial int FuseReplyLSeek(ulong req, long offset);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_xattr")]
        internal static partial int FuseReplyXAttr(ulong req, ulong size);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_statfs")]
        internal static partial int FuseReplyStatFs(ulong req, ulong blockSize, ulong blocks, ulong blocksFree, ulong files, ulong nameMax);

        [LibraryImport(Lib, EntryPoint = "sp_fuse_reply_dir")]
        internal static unsafe partial int FuseReplyDir(ulong req, FuseDirent* entries, uint count, ulong size);
    }
}
