using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using StoragePool.Core.Errors;
using StoragePool.Core.Extents;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Core.Threading;
using StoragePool.Storage.IO;
using static StoragePool.Interop.Interop;

namespace StoragePool.Storage;

/// <summary>
/// The <c>file</c> backend: every volume and snapshot is a sparse file, <c>volumes/&lt;id&gt;.img</c> and
/// <c>snapshots/&lt;id&gt;.img</c> under the store's directory. Copies are reflinks (FICLONE) where the file
/// system can, else sparse copies; either is written to a <c>.tmp</c> file and renamed into place.
/// A change is durable (file and directory fsynced) when the call returns.
/// Use one instance per directory: the constructor deletes <c>*.tmp</c> files, the leftovers of copies a crash cut short.
/// </summary>
public sealed class FileStore : IVolumeStore
{
    private const string ImageSuffix = ".img";
    private const string TempSuffix = ".tmp";
    private const int CopyBufferSize = 4 << 20;

    /// <summary>The sparse copy leaves a hole for every all-zero run of this size.</summary>
    private const int ZeroBlockSize = 4096;

    // Every VM's disk is in these files: the daemon's user alone reads them. Others reach a volume only through the
    // daemon (NBD, or the FUSE file, whose modes libvirt sets for QEMU).
    private const UnixFileMode VolumeMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode SnapshotMode = UnixFileMode.UserRead;

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _path;
    private readonly string _volumesDirectory;
    private readonly string _snapshotsDirectory;

    /// <summary>Set once the file system has refused FICLONE; later copies go straight to the sparse copy.</summary>
    private volatile bool _reflinkRefused;

    /// <summary>Opens the store at <paramref name="path"/>, which must be an existing, writable directory.</summary>
    public FileStore(string path)
        : this(path, forceSparseCopy: false)
    {
    }

    /// <param name="path">the store's directory.</param>
    /// <param name="forceSparseCopy">never try FICLONE, as if the file system had refused it.</param>
    internal FileStore(string path, bool forceSparseCopy)
    {
        ValidatePath(path);
        _path = path;
        _volumesDirectory = Path.Combine(path, "volumes");
        _snapshotsDirectory = Path.Combine(path, "snapshots");
        _reflinkRefused = forceSparseCopy;
        Run($"opening store '{path}'", () =>
        {
            foreach (var (directory, fileMode) in new[] { (_volumesDirectory, VolumeMode), (_snapshotsDirectory, SnapshotMode) })
            {
                if (!Directory.Exists(directory))
                {
                    Directory.CreateDirectory(directory, DirectoryMode);
                    FSyncDirectory(path);
                }
                foreach (var leftover in Directory.EnumerateFiles(directory, "*" + TempSuffix))
                {
                    File.Delete(leftover);
                }
                Tighten(directory, DirectoryMode);
                foreach (var file in Directory.EnumerateFiles(directory, "*" + ImageSuffix))
                {
                    Tighten(file, fileMode);
                }
            }
        });
    }

    /// <summary>Takes away what <paramref name="mode"/> does not give (a store made by an older build let everyone read).</summary>
    private static void Tighten(string path, UnixFileMode mode)
    {
        if ((File.GetUnixFileMode(path) & ~mode) != 0)
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    /// <summary>
    /// Throws <see cref="ErrorCode.StorePathInvalid"/> unless <paramref name="path"/> is an absolute path to an
    /// existing directory in which this process can create files; returns it with its symbolic links resolved.
    /// </summary>
    public static string ValidatePath(string path)
    {
        if (!Path.IsPathFullyQualified(path))
        {
            throw InvalidPath($"store path '{path}' is not an absolute path; give the full path, for example /srv/storagepool");
        }
        if (File.Exists(path))
        {
            throw InvalidPath($"store path '{path}' is a file, not a directory; give a directory");
        }
        if (!Directory.Exists(path))
        {
            throw InvalidPath($"store path '{path}' does not exist; create the directory first (mkdir -p {path})");
        }
        var probe = Path.Combine(path, $".storagepool-probe-{Guid.NewGuid():N}");
        try
        {
            File.OpenHandle(probe, FileMode.CreateNew, FileAccess.Write).Dispose();
            File.Delete(probe);
        }
        catch (Exception ex) when (IsIoFailure(ex))
        {
            throw new StoragePoolException(ErrorCode.StorePathInvalid,
                $"store path '{path}' is not writable by this process ({ex.Message}); " +
                "make it writable for the user the daemon runs as, or choose another directory", ex);
        }
        return Libc.RealPath(path)
            ?? throw InvalidPath($"store path '{path}' cannot be resolved ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}); " +
                "give a directory that exists");

        static StoragePoolException InvalidPath(string message) => new(ErrorCode.StorePathInvalid, message);
    }

    /// <summary>Removes what the store added to its directory (<c>volumes/</c>, <c>snapshots/</c>) when they are empty.</summary>
    public void RemoveLayout()
    {
        Run($"removing the store's directories in '{_path}'", () =>
        {
            foreach (var directory in new[] { _volumesDirectory, _snapshotsDirectory })
            {
                if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
                {
                    Directory.Delete(directory);
                }
            }
            FSyncDirectory(_path);
        });
    }

    /// <summary>The file that holds the volume's data.</summary>
    public string GetVolumePath(string volumeId) =>
        Path.Combine(_volumesDirectory, CheckId("volume", volumeId) + ImageSuffix);

    /// <summary>The file that holds the snapshot's data.</summary>
    public string GetSnapshotPath(string snapshotId) =>
        Path.Combine(_snapshotsDirectory, CheckId("snapshot", snapshotId) + ImageSuffix);

    public BlockVolume OpenVolume(string volumeId, string name, WritePath writes, CancellationToken revoked)
    {
        ArgumentNullException.ThrowIfNull(writes);
        EventThread.AssertNotOn("opening a volume's file");
        return OpenBlockVolume(OpenVolume(volumeId, FileAccess.ReadWrite, BlockVolumeOptions), name, readOnly: false, writes,
            $"opening volume '{volumeId}'", revoked);
    }

    public BlockVolume OpenSnapshot(string snapshotId, string name, CancellationToken revoked)
    {
        EventThread.AssertNotOn("opening a snapshot's file");
        return OpenBlockVolume(OpenSnapshot(snapshotId, BlockVolumeOptions), name, readOnly: true, WritePath.Empty,
            $"opening snapshot '{snapshotId}'", revoked);
    }

    private static FileBlockVolume OpenBlockVolume(SafeFileHandle handle, string name, bool readOnly,
        WritePath writes, string operation, CancellationToken revoked)
    {
        try
        {
            var size = Run(operation, () => RandomAccess.GetLength(handle));
            return new FileBlockVolume(handle, name, size, readOnly, writes, revoked);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public StoreUsage GetUsage()
    {
        if (Libc.StatVfs(_path, out var status) != 0)
        {
            throw Libc.LastError($"reading the capacity of store '{_path}' (statvfs)");
        }
        return new StoreUsage(
            checked((long)(status.Blocks * status.FragmentSize)),
            checked((long)(status.BlocksAvailable * status.FragmentSize)));
    }

    public void CreateVolume(string volumeId, long sizeBytes)
    {
        var path = GetVolumePath(volumeId);
        CheckSize(volumeId, sizeBytes);
        Run($"creating volume '{volumeId}'", () =>
        {
            using var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            var length = RandomAccess.GetLength(handle);
            if (length != sizeBytes)
            {
                // Length 0 is a create that stopped before SetLength; any other length belongs to a volume.
                if (length != 0)
                {
                    throw new StoragePoolException(ErrorCode.Conflict,
                        $"volume '{volumeId}' already exists in store '{_path}' with {length} bytes, " +
                        $"not the {sizeBytes} bytes asked for; resize it, or delete it first");
                }
                RandomAccess.SetLength(handle, sizeBytes);
            }
            SetMode(handle, VolumeMode, path);
            RandomAccess.FlushToDisk(handle);
            FSyncDirectory(_volumesDirectory);
        });
    }

    public void DeleteVolume(string volumeId)
    {
        var path = GetVolumePath(volumeId);
        Run($"deleting volume '{volumeId}'", () =>
        {
            File.Delete(path);
            FSyncDirectory(_volumesDirectory);
        });
    }

    public bool VolumeExists(string volumeId) => File.Exists(GetVolumePath(volumeId));

    public void ResizeVolume(string volumeId, long sizeBytes)
    {
        CheckSize(volumeId, sizeBytes);
        using var handle = OpenVolume(volumeId, FileAccess.ReadWrite);
        Run($"resizing volume '{volumeId}' to {sizeBytes} bytes", () =>
        {
            RandomAccess.SetLength(handle, sizeBytes);
            RandomAccess.FlushToDisk(handle);
        });
    }

    public long GetVolumeSize(string volumeId)
    {
        using var handle = OpenVolume(volumeId, FileAccess.Read);
        return Run($"reading the size of volume '{volumeId}'", () => RandomAccess.GetLength(handle));
    }

    public long GetVolumeAllocatedBytes(string volumeId)
    {
        using var handle = OpenVolume(volumeId, FileAccess.Read);
        return AllocatedBytes(handle, $"reading the allocation of volume '{volumeId}'");
    }

    public IReadOnlyList<Extent> GetVolumeExtents(string volumeId)
    {
        using var handle = OpenVolume(volumeId, FileAccess.Read);
        var operation = $"mapping the extents of volume '{volumeId}'";
        return Run(operation, () => GetExtents(handle, operation));
    }

    public async Task<CopyMethod> CreateSnapshotAsync(string volumeId, string snapshotId,
        CancellationToken cancellationToken = default)
    {
        var destination = GetSnapshotPath(snapshotId);
        using var source = OpenVolume(volumeId, FileAccess.Read);
        return await CopyAsync(source, destination + TempSuffix, destination, SnapshotMode,
            $"snapshotting volume '{volumeId}' as '{snapshotId}'", cancellationToken);
    }

    public void DeleteSnapshot(string snapshotId)
    {
        var path = GetSnapshotPath(snapshotId);
        Run($"deleting snapshot '{snapshotId}'", () =>
        {
            File.Delete(path);
            FSyncDirectory(_snapshotsDirectory);
        });
    }

    public bool SnapshotExists(string snapshotId) => File.Exists(GetSnapshotPath(snapshotId));

    public long GetSnapshotAllocatedBytes(string snapshotId)
    {
        using var handle = OpenSnapshot(snapshotId);
        return AllocatedBytes(handle, $"reading the allocation of snapshot '{snapshotId}'");
    }

    public IReadOnlyList<Extent> GetSnapshotExtents(string snapshotId)
    {
        using var handle = OpenSnapshot(snapshotId);
        var operation = $"mapping the extents of snapshot '{snapshotId}'";
        return Run(operation, () => GetExtents(handle, operation));
    }

    public async Task<CopyMethod> CloneFromSnapshotAsync(string snapshotId, string newVolumeId,
        CancellationToken cancellationToken = default)
    {
        var destination = GetVolumePath(newVolumeId);
        using var source = OpenSnapshot(snapshotId);
        return await CopyAsync(source, destination + TempSuffix, destination, VolumeMode,
            $"cloning snapshot '{snapshotId}' into volume '{newVolumeId}'", cancellationToken);
    }

    public async Task<CopyMethod> RevertToSnapshotAsync(string volumeId, string snapshotId,
        CancellationToken cancellationToken = default)
    {
        var destination = GetVolumePath(volumeId);
        using var source = OpenSnapshot(snapshotId);
        if (!File.Exists(destination))
        {
            throw VolumeNotFound(volumeId);
        }
        return await CopyAsync(source, destination + ".revert" + TempSuffix, destination, VolumeMode,
            $"reverting volume '{volumeId}' to snapshot '{snapshotId}'", cancellationToken);
    }

    public IReadOnlyList<string> ListVolumeIds() => ListIds(_volumesDirectory);

    public IReadOnlyList<string> ListSnapshotIds() => ListIds(_snapshotsDirectory);

    private static List<string> ListIds(string directory) =>
        Run($"listing '{directory}'", () => Directory.EnumerateFiles(directory, "*" + ImageSuffix)
            .Select(file => Path.GetFileName(file)[..^ImageSuffix.Length])
            .Order(StringComparer.Ordinal)
            .ToList());

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="temporary"/>, gives it <paramref name="mode"/>, and
    /// renames it over <paramref name="destination"/>: the destination is either untouched or the whole copy.
    /// </summary>
    private async Task<CopyMethod> CopyAsync(SafeFileHandle source, string temporary, string destination,
        UnixFileMode mode, string operation, CancellationToken cancellationToken)
    {
        try
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                CopyMethod method;
                using (var target = File.OpenHandle(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
                {
                    method = TryReflink(source, target, operation)
                        ? CopyMethod.Reflink
                        : await SparseCopyAsync(source, target, operation, cancellationToken);
                    SetMode(target, mode, temporary);
                    RandomAccess.FlushToDisk(target);
                }
                File.Move(temporary, destination, overwrite: true);
                FSyncDirectory(Path.GetDirectoryName(destination)!);
                return method;
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
        }
        catch (Exception ex) when (IsIoFailure(ex))
        {
            throw Failure(operation, ex);
        }
    }

    /// <summary>FICLONE; false when the file system cannot (it is then not asked again).</summary>
    private bool TryReflink(SafeFileHandle source, SafeFileHandle target, string operation)
    {
        if (_reflinkRefused)
        {
            return false;
        }
        if (Libc.IoctlFiClone(target, Libc.FiClone, source) == 0)
        {
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno is Libc.EOPNOTSUPP or Libc.EXDEV or Libc.EINVAL or Libc.ENOTTY)
        {
            _reflinkRefused = true;
            return false;
        }
        throw Libc.Error(errno, operation + " (FICLONE)");
    }

    /// <summary>Reads only the source's data extents and writes only their non-zero blocks, at the same offsets.</summary>
    private static async Task<CopyMethod> SparseCopyAsync(SafeFileHandle source, SafeFileHandle target,
        string operation, CancellationToken cancellationToken)
    {
        RandomAccess.SetLength(target, RandomAccess.GetLength(source));
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            foreach (var extent in GetExtents(source, operation))
            {
                var offset = extent.Offset;
                while (offset < extent.End)
                {
                    var chunk = buffer.AsMemory(0, (int)Math.Min(CopyBufferSize, extent.End - offset));
                    await ReadExactlyAsync(source, chunk, offset, cancellationToken);
                    await WriteNonZeroBlocksAsync(target, chunk, offset, cancellationToken);
                    offset += chunk.Length;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return CopyMethod.SparseCopy;
    }

    private static async Task ReadExactlyAsync(SafeFileHandle source, Memory<byte> buffer, long offset,
        CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var read = await RandomAccess.ReadAsync(source, buffer[done..], offset + done, cancellationToken);
            if (read == 0)
            {
                throw new EndOfStreamException($"the source ended at {offset + done} bytes while it was being copied");
            }
            done += read;
        }
    }

    private static async Task WriteNonZeroBlocksAsync(SafeFileHandle target, ReadOnlyMemory<byte> data, long offset,
        CancellationToken cancellationToken)
    {
        var start = 0;
        while (start < data.Length)
        {
            if (IsZeroBlock(data.Span, start))
            {
                start = BlockEnd(start, data.Length);
                continue;
            }
            var end = BlockEnd(start, data.Length);
            while (end < data.Length && !IsZeroBlock(data.Span, end))
            {
                end = BlockEnd(end, data.Length);
            }
            await RandomAccess.WriteAsync(target, data[start..end], offset + start, cancellationToken);
            start = end;
        }

        static int BlockEnd(int start, int length) => Math.Min(start + ZeroBlockSize, length);

        static bool IsZeroBlock(ReadOnlySpan<byte> data, int start) =>
            !data[start..BlockEnd(start, data.Length)].ContainsAnyExcept((byte)0);
    }

    /// <summary>The data extents, walking SEEK_DATA/SEEK_HOLE up to the file's current length.</summary>
    private static IReadOnlyList<Extent> GetExtents(SafeFileHandle handle, string operation)
    {
        var size = RandomAccess.GetLength(handle);
        var extents = new List<Extent>();
        var position = 0L;
        while (position < size)
        {
            var data = Libc.LSeek(handle, position, Libc.SeekData);
            if (data < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.ENXIO)
                {
                    break; // no data at or after position
                }
                throw Libc.Error(errno, operation + " (lseek SEEK_DATA)");
            }
            if (data >= size)
            {
                break; // the file grew while being mapped
            }
            var hole = Libc.LSeek(handle, data, Libc.SeekHole);
            if (hole < 0)
            {
                throw Libc.LastError(operation + " (lseek SEEK_HOLE)");
            }
            hole = Math.Min(hole, size);
            extents.Add(new Extent(data, hole - data));
            position = hole;
        }
        return ExtentList.Normalize(extents);
    }

    private static long AllocatedBytes(SafeFileHandle handle, string operation)
    {
        if (Libc.FStat(handle, out var status) != 0)
        {
            throw Libc.LastError(operation + " (fstat)");
        }
        return status.Blocks * Libc.StatBlockSize;
    }

    private static void SetMode(SafeFileHandle handle, UnixFileMode mode, string path)
    {
        if (Libc.FChmod(handle, (uint)mode) != 0)
        {
            throw Libc.LastError($"setting the mode of '{path}' (fchmod)");
        }
    }

    private static void FSyncDirectory(string directory)
    {
        using var handle = Libc.Open(directory, Libc.ORdOnly | Libc.ODirectory | Libc.OCloExec);
        if (handle.IsInvalid)
        {
            throw Libc.LastError($"opening directory '{directory}' to fsync it");
        }
        if (Libc.FSync(handle) != 0)
        {
            throw Libc.LastError($"fsync of directory '{directory}'");
        }
    }

    /// <summary>
    /// How the file of a <see cref="FileBlockVolume"/> is opened. On Linux, <see cref="FileOptions.Asynchronous"/> only
    /// marks the handle (the volume still reads and writes with pread/pwrite on the caller's thread); socket APIs take
    /// only such handles for sendfile (<see cref="IBlockVolume.TryGetCachedFileRange"/>).
    /// </summary>
    private const FileOptions BlockVolumeOptions = FileOptions.Asynchronous;

    private SafeFileHandle OpenVolume(string volumeId, FileAccess access, FileOptions options = FileOptions.None) =>
        Open(GetVolumePath(volumeId), access, options, () => VolumeNotFound(volumeId), $"opening volume '{volumeId}'");

    private SafeFileHandle OpenSnapshot(string snapshotId, FileOptions options = FileOptions.None) =>
        Open(GetSnapshotPath(snapshotId), FileAccess.Read, options, () => SnapshotNotFound(snapshotId),
            $"opening snapshot '{snapshotId}'");

    private static SafeFileHandle Open(string path, FileAccess access, FileOptions options, Func<StoragePoolException> notFound,
        string operation)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, access, FileShare.ReadWrite, options);
        }
        catch (FileNotFoundException)
        {
            throw notFound();
        }
        catch (Exception ex) when (IsIoFailure(ex))
        {
            throw Failure(operation, ex);
        }
    }

    private StoragePoolException VolumeNotFound(string volumeId) =>
        new(ErrorCode.VolumeNotFound, $"volume '{volumeId}' does not exist in store '{_path}'");

    private StoragePoolException SnapshotNotFound(string snapshotId) =>
        new(ErrorCode.SnapshotNotFound, $"snapshot '{snapshotId}' does not exist in store '{_path}'");

    /// <summary>Ids name files, so they follow the name rules (no '/', no leading '.').</summary>
    private static string CheckId(string kind, string id)
    {
        var problem = Names.Problem(id);
        if (problem is not null)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"{kind} id '{id}' {problem}; ids are letters, digits, '.', '_' and '-', not starting with '.' or '-'");
        }
        return id;
    }

    private static void CheckSize(string volumeId, long sizeBytes)
    {
        if (sizeBytes < 0)
        {
            throw new StoragePoolException(ErrorCode.InvalidSize,
                $"volume '{volumeId}' cannot be {sizeBytes} bytes; give a size of zero or more");
        }
    }

    private static void Run(string operation, Action action)
    {
        try
        {
            action();
        }
        catch (Exception ex) when (IsIoFailure(ex))
        {
            throw Failure(operation, ex);
        }
    }

    private static T Run<T>(string operation, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (IsIoFailure(ex))
        {
            throw Failure(operation, ex);
        }
    }

    private static bool IsIoFailure(Exception ex) => ex is IOException or UnauthorizedAccessException;

    /// <summary>.NET's I/O exceptions carry the errno in <see cref="Exception.HResult"/> on Unix.</summary>
    private static StoragePoolException Failure(string operation, Exception ex)
    {
        var code = Libc.CodeFor(ex.HResult);
        var message = $"{operation} failed: {ex.Message}";
        return new StoragePoolException(code, code == ErrorCode.NoSpace ? message + Libc.NoSpaceAdvice : message, ex);
    }
}
