using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using StoragePool.Core.Errors;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>
    /// glibc on Linux x86_64. The structures below have that ABI's layout; the errno values are the
    /// kernel's generic ones. File descriptors travel as <see cref="SafeFileHandle"/> (from
    /// <see cref="File.OpenHandle"/> or <see cref="Open"/>) so they cannot be closed during a call.
    /// </summary>
    internal static partial class Libc
    {
        private const string Lib = "libc";

        // lseek whence
        internal const int SeekData = 3;
        internal const int SeekHole = 4;

        // fallocate mode
        internal const int FallocFlKeepSize = 0x01;
        internal const int FallocFlPunchHole = 0x02;

        /// <summary>Zeroes the range and leaves it allocated (as unwritten extents where the file system can).</summary>
        internal const int FallocFlZeroRange = 0x10;

        /// <summary>ioctl request _IOW(0x94, 9, int): make the target file share all of the source's blocks.</summary>
        internal const uint FiClone = 0x40049409;

        // open flags
        internal const int ORdOnly = 0x0;
        internal const int ORdWr = 0x2;
        internal const int ODirect = 0x4000;
        internal const int ODirectory = 0x10000;
        internal const int OCloExec = 0x80000;

        // errno
        internal const int EINTR = 4;
        internal const int ENXIO = 6;
        internal const int EXDEV = 18;
        internal const int ENODEV = 19;
        internal const int EINVAL = 22;
        internal const int ENOTTY = 25;
        internal const int ENOSPC = 28;
        internal const int ENOSYS = 38;
        internal const int EOPNOTSUPP = 95;
        internal const int EDQUOT = 122;

        /// <summary>Bytes in one unit of <see cref="FileStatus.Blocks"/> (st_blocks), whatever the file system's block size.</summary>
        internal const long StatBlockSize = 512;

        /// <summary>Appended to <see cref="ErrorCode.NoSpace"/> messages: what the user can do.</summary>
        internal const string NoSpaceAdvice =
            "; free space on the store's file system, or move volumes to another store";

        [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial SafeFileHandle Open(string path, int flags);

        [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
        internal static partial int FSync(SafeFileHandle fd);

        /// <summary>posix_fadvise advice: start reading the range into the page cache now.</summary>
        internal const int PosixFadvWillNeed = 3;

        /// <summary>posix_fadvise advice: drop the range's clean pages from the page cache.</summary>
        internal const int PosixFadvDontNeed = 4;

        /// <summary>Returns 0 or an errno (not -1 and errno, unlike most calls).</summary>
        [LibraryImport(Lib, EntryPoint = "posix_fadvise")]
        internal static partial int PosixFadvise(SafeFileHandle fd, long offset, long length, int advice);

        /// <summary>Makes the file's data (and the metadata needed to read it) durable, whichever descriptor wrote it.</summary>
        [LibraryImport(Lib, EntryPoint = "fdatasync", SetLastError = true)]
        internal static partial int FDataSync(SafeFileHandle fd);

        [LibraryImport(Lib, EntryPoint = "fchmod", SetLastError = true)]
        internal static partial int FChmod(SafeFileHandle fd, uint mode);

        [LibraryImport(Lib, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long LSeek(SafeFileHandle fd, long offset, int whence);

        [LibraryImport(Lib, EntryPoint = "fallocate", SetLastError = true)]
        internal static partial int FAllocate(SafeFileHandle fd, int mode, long offset, long length);

        /// <summary>ioctl(target, FICLONE, source). The kernel reads the third argument as the source's int fd;
        /// the handle is passed as a register-wide value holding that fd.</summary>
        [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int IoctlFiClone(SafeFileHandle target, nuint request, SafeFileHandle source);

        [LibraryImport(Lib, EntryPoint = "fstat", SetLastError = true)]
        internal static partial int FStat(SafeFileHandle fd, out FileStatus status);

        [LibraryImport(Lib, EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int StatVfs(string path, out FileSystemStatus status);

        /// <summary>umount2 flag: detach now, finish when the last user lets go (a stale FUSE mount of a dead daemon).</summary>
        internal const int MntDetach = 2;

        [LibraryImport(Lib, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Umount2(string target, int flags);

        [LibraryImport(Lib, EntryPoint = "pwrite", SetLastError = true)]
        private static unsafe partial nint PWrite(SafeFileHandle fd, byte* buffer, nuint count, long offset);

        [StructLayout(LayoutKind.Sequential)]
        private unsafe struct IoVec
        {
            public byte* Base;
            public nuint Length;
        }

        /// <summary>preadv2 flag: fail with EAGAIN rather than wait for the disk.</summary>
        private const int RwfNoWait = 0x8;

        [LibraryImport(Lib, EntryPoint = "preadv2", SetLastError = true)]
        private static unsafe partial nint PReadV2(SafeFileHandle fd, IoVec* iov, int count, long offset, int flags);

        /// <summary>
        /// Reads at <paramref name="offset"/> without waiting for the disk (preadv2 with RWF_NOWAIT): the bytes read,
        /// which stop at the first byte that would need the disk or at the end of the file (0 there), or -1 when not even
        /// the first byte can be had without waiting (or the kernel or file system cannot tell). On a miss the kernel
        /// starts read-ahead, and may return the bytes if that finished in time: <see cref="IsCached"/> only looks.
        /// </summary>
        internal static unsafe int ReadCached(SafeFileHandle fd, Span<byte> buffer, long offset)
        {
            fixed (byte* start = buffer)
            {
                var iov = new IoVec { Base = start, Length = (nuint)buffer.Length };
                while (true)
                {
                    var read = PReadV2(fd, &iov, 1, offset, RwfNoWait);
                    if (read >= 0)
                    {
                        return (int)read;
                    }
                    if (Marshal.GetLastPInvokeError() != EINTR)
                    {
                        return -1;
                    }
                }
            }
        }

        /// <summary>cachestat(2), Linux 6.5 and later: syscall number 451 on x86_64 (and on every architecture since).</summary>
        private const long SysCacheStat = 451;

        [StructLayout(LayoutKind.Sequential)]
        private struct CacheStatRange
        {
            public ulong Offset;
            public ulong Length;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct CacheStat
        {
            public ulong Cached;
            public ulong Dirty;
            public ulong Writeback;
            public ulong Evicted;
            public ulong RecentlyEvicted;
        }

        [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
        private static unsafe partial long CacheStatCall(long number, SafeFileHandle fd, CacheStatRange* range, CacheStat* stat, uint flags);

        /// <summary>
        /// Whether the page cache holds every page of [<paramref name="offset"/>, +<paramref name="length"/>) of the
        /// file (cachestat(2), which only looks and starts no I/O): reading it, or splicing it to a socket, will not wait
        /// for the disk. Null where the kernel cannot tell (before 6.5).
        /// </summary>
        internal static unsafe bool? IsCached(SafeFileHandle fd, long offset, long length)
        {
            var page = Environment.SystemPageSize;
            var first = offset / page;
            var pages = ((offset + length + page - 1) / page) - first;
            var range = new CacheStatRange { Offset = (ulong)(first * page), Length = (ulong)(pages * page) };
            CacheStat stat;
            return CacheStatCall(SysCacheStat, fd, &range, &stat, 0) == 0 ? stat.Cached >= (ulong)pages : null;
        }

        /// <summary>
        /// Writes all of <paramref name="data"/> at <paramref name="offset"/> through <paramref name="fd"/>, a descriptor
        /// opened with O_DIRECT, when the buffer, its length and the offset are aligned (<see cref="AlignedBuffer"/>).
        /// Returns false, having written nothing, when they are not or the file system refuses them (EINVAL): the caller
        /// then writes through the page cache.
        /// </summary>
        internal static unsafe bool TryWriteDirect(SafeFileHandle fd, ReadOnlySpan<byte> data, long offset, string operation)
        {
            fixed (byte* start = data)
            {
                if (!AlignedBuffer.IsAligned(start, data.Length, offset))
                {
                    return false;
                }
                var done = 0;
                while (done < data.Length)
                {
                    var written = PWrite(fd, start + done, (nuint)(data.Length - done), offset + done);
                    if (written < 0)
                    {
                        var errno = Marshal.GetLastPInvokeError();
                        if (errno == EINTR)
                        {
                            continue;
                        }
                        if (errno == EINVAL && done == 0)
                        {
                            return false;
                        }
                        throw Error(errno, $"{operation} (pwrite, O_DIRECT)");
                    }
                    done += (int)written;
                }
            }
            return true;
        }

        [LibraryImport(Lib, EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Chown(string path, uint owner, uint group);

        /// <summary>Gives the file (a unix socket, say) to group <paramref name="groupId"/>, keeping its owner.</summary>
        internal static void ChangeGroup(string path, uint groupId)
        {
            if (Chown(path, uint.MaxValue, groupId) != 0)
            {
                throw LastError($"giving '{path}' to group {groupId} (chown)");
            }
        }

        /// <summary>struct group of glibc on x86_64; only the id is read, the strings point into the caller's buffer.</summary>
        [StructLayout(LayoutKind.Sequential)]
        private struct Group
        {
            public nint Name;
            public nint Password;
            public uint Id;
            public nint Members;
        }

        [LibraryImport(Lib, EntryPoint = "getgrnam_r", StringMarshalling = StringMarshalling.Utf8)]
        private static unsafe partial int GetGroupByName(string name, out Group group, byte* buffer, nuint length, out nint result);

        private const int ERANGE = 34;

        /// <summary>The id of group <paramref name="name"/> as the system's name services know it (what
        /// <c>getent group NAME</c> prints), or null when there is no such group.</summary>
        internal static unsafe uint? GroupId(string name)
        {
            for (var size = 1024; ; size *= 4)
            {
                var buffer = new byte[size];
                fixed (byte* start = buffer)
                {
                    var rc = GetGroupByName(name, out var group, start, (nuint)size, out var found);
                    if (rc == ERANGE && size < 1 << 20)
                    {
                        continue;
                    }
                    if (rc != 0)
                    {
                        throw Error(rc, $"looking up group '{name}' (getgrnam_r)");
                    }
                    return found == 0 ? null : group.Id;
                }
            }
        }

        /// <summary>Sets the process's file creation mask (umask(2)); returns the one before.</summary>
        [LibraryImport(Lib, EntryPoint = "umask")]
        internal static partial uint SetFileCreationMask(uint mask);

        /// <summary>The path with every symbolic link, '.' and '..' resolved (realpath(3)); null when it cannot be resolved.</summary>
        internal static string? RealPath(string path)
        {
            var resolved = RealPathCore(path, 0);
            if (resolved == 0)
            {
                return null;
            }
            try
            {
                return Marshal.PtrToStringUTF8(resolved);
            }
            finally
            {
                Free(resolved);
            }
        }

        [LibraryImport(Lib, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint RealPathCore(string path, nint resolved);

        /// <summary>Releases memory a C library allocated with malloc and handed to us (libvirt's <c>char*</c> results, for one).</summary>
        [LibraryImport(Lib, EntryPoint = "free")]
        internal static partial void Free(nint pointer);

        /// <summary>The exception for the errno the last call left; read it right after that call.</summary>
        internal static StoragePoolException LastError(string operation) =>
            Error(Marshal.GetLastPInvokeError(), operation);

        /// <summary>A sentence naming the operation and the system's text for <paramref name="errno"/>.</summary>
        internal static StoragePoolException Error(int errno, string operation)
        {
            var code = CodeFor(errno);
            var message = $"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
            return new StoragePoolException(code, code == ErrorCode.NoSpace ? message + NoSpaceAdvice : message);
        }

        /// <summary>A full file system or quota is <see cref="ErrorCode.NoSpace"/>; anything else is <see cref="ErrorCode.IoError"/>.</summary>
        internal static ErrorCode CodeFor(int errno) =>
            errno is ENOSPC or EDQUOT ? ErrorCode.NoSpace : ErrorCode.IoError;

        /// <summary>struct timespec.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct TimeSpec
        {
            internal long Seconds;
            internal long Nanoseconds;
        }

        /// <summary>struct stat of glibc on x86_64 (144 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct FileStatus
        {
            internal ulong Device;
            internal ulong Inode;
            internal ulong LinkCount;
            internal uint Mode;
            internal uint UserId;
            internal uint GroupId;
            internal int Padding0;
            internal ulong SpecialDevice;
            internal long Size;
            internal long BlockSize;

            /// <summary>Allocated space in units of <see cref="StatBlockSize"/>.</summary>
            internal long Blocks;
            internal TimeSpec AccessTime;
            internal TimeSpec ModificationTime;
            internal TimeSpec ChangeTime;
            internal fixed long Reserved[3];
        }

        /// <summary>struct statvfs of glibc on x86_64 (112 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct FileSystemStatus
        {
            internal ulong BlockSize;

            /// <summary>f_frsize: the unit of <see cref="Blocks"/>, <see cref="BlocksFree"/> and <see cref="BlocksAvailable"/>.</summary>
            internal ulong FragmentSize;
            internal ulong Blocks;
            internal ulong BlocksFree;

            /// <summary>Free blocks an unprivileged user may use (what df shows as available).</summary>
            internal ulong BlocksAvailable;
            internal ulong Files;
            internal ulong FilesFree;
            internal ulong FilesAvailable;
            internal ulong FileSystemId;
            internal ulong Flags;
            internal ulong NameMax;
            internal fixed int Spare[6];
        }
    }
}
