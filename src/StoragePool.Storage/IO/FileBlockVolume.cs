using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using StoragePool.Core.Errors;
using static StoragePool.Interop.Interop;

namespace StoragePool.Storage.IO;

/// <summary>
/// A volume or snapshot of the <c>file</c> store: one sparse file, one descriptor, positional I/O
/// (<c>pread</c>/<c>pwrite</c> through <see cref="RandomAccess"/>), so any number of requests run at once without a lock.
/// <para>
/// Buffered I/O, not O_DIRECT: the page cache gives read-ahead and write-back, the other paths of the store
/// (snapshot copies, other connections' descriptors) see the same bytes without cache coherency rules, and
/// requests of any alignment need no bounce buffers. O_DIRECT saves CPU only with many reads in flight (FINDINGS).
/// The exception is bulk filling (<see cref="WriteOptions.Uncached"/>, a transfer's chunks): aligned writes go through
/// a second descriptor with O_DIRECT: no copy into the page cache (most of a copy receiver's CPU, docs/benchmarks.md),
/// and a large copy does not evict what running VMs cache.
/// Durability is <c>fdatasync</c>, on <see cref="IBlockVolume.FlushAsync"/> and after a request with
/// <see cref="WriteOptions.Fua"/>; it covers every write to the file through any descriptor, so a flush on one
/// connection of a multi-connection client makes all connections' acknowledged writes durable.
/// </para>
/// <para>
/// Zeroing without writing, in nbdkit's order, remembering what the file system refused: a trim or a
/// write-zeroes that may leave a hole punches one (<c>FALLOC_FL_PUNCH_HOLE</c>, which also zeroes partial blocks at
/// the ends), else zeroes the range in place (<c>FALLOC_FL_ZERO_RANGE</c>), else writes zeros. A write-zeroes with
/// <see cref="WriteOptions.NoHole"/> uses <c>FALLOC_FL_ZERO_RANGE</c>, else punches and allocates again
/// (tmpfs has no ZERO_RANGE), else writes zeros. With <see cref="WriteOptions.FastZero"/>, writing zeros is refused.
/// </para>
/// </summary>
internal sealed class FileBlockVolume : BlockVolume
{
    /// <summary>A block-status answer stops after this many runs: the caller asks again from where it ended.</summary>
    internal const int MaxRunsPerStatus = 1024;

    private const int ZeroChunkSize = 1 << 20;

    /// <summary>Written, never changed: the source of the slow zeroing path.</summary>
    private static readonly ReadOnlyMemory<byte> Zeros = new byte[ZeroChunkSize];

    private readonly SafeFileHandle _handle;

    /// <summary>The same file opened again with O_DIRECT, for <see cref="WriteOptions.Uncached"/> writes; null until the first.</summary>
    private SafeFileHandle? _direct;

    /// <summary>
    /// <see cref="_handle"/> as a stream, for <see cref="FileRange"/>s (what socket APIs take for sendfile); made on
    /// first use, never disposed (that would close the handle, which <see cref="Dispose(bool)"/> does).
    /// </summary>
    private FileStream? _view;
    private readonly Lock _viewLock = new();

    /// <summary>1 once the file system refused to open the file with O_DIRECT: uncached writes then go through the page cache.</summary>
    private int _directRefused;

    /// <summary>The <see cref="Fallocation"/> modes the file system has refused (EOPNOTSUPP): not asked again.</summary>
    private int _refused;

    /// <param name="handle">the file, opened for reading and writing unless <paramref name="readOnly"/>; owned from now on.</param>
    /// <param name="refused">modes to treat as refused from the start, as if the file system had refused them.</param>
    internal FileBlockVolume(SafeFileHandle handle, string name, long size, bool readOnly, WritePath writes,
        CancellationToken revoked, Fallocation refused = Fallocation.None)
        : base(name, size, readOnly, writes, revoked)
    {
        _handle = handle;
        _refused = (int)refused;
    }

    /// <summary>What fallocate modes the file system has refused so far.</summary>
    internal Fallocation Refused => (Fallocation)Volatile.Read(ref _refused);

    // pread/pwrite run on the caller's thread: callers already run each request as its own thread-pool
    // work item (the NBD server does), and RandomAccess's async path on this handle would queue a second
    // one per request, which at 4 KiB and queue depth 32 costs more than the syscall (measured).
    protected override ValueTask ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var read = RandomAccess.Read(_handle, buffer.Span[done..], offset + done);
                if (read == 0)
                {
                    // The file is shorter than the volume was when opened (shrunk since): the rest reads as zeros.
                    buffer.Span[done..].Clear();
                    break;
                }
                done += read;
            }
            return ValueTask.CompletedTask;
        }
        catch (IOException ex)
        {
            return ValueTask.FromException(Failure($"reading {buffer.Length} bytes at offset {offset} of '{Name}'", ex));
        }
    }

    protected override bool TryReadCachedCore(long offset, Span<byte> buffer)
    {
        var done = 0;
        try
        {
            // look first: preadv2(RWF_NOWAIT) alone would start read-ahead on a miss, I/O submitted from a thread that
            // must not block; where the kernel cannot look (before 6.5), RWF_NOWAIT still never waits
            if (Libc.IsCached(_handle, offset, buffer.Length) == false)
            {
                return false;
            }
            while (done < buffer.Length)
            {
                var read = Libc.ReadCached(_handle, buffer[done..], offset + done);
                if (read < 0)
                {
                    return false;
                }
                if (read == 0)
                {
                    // shorter than the volume (shrunk since it was opened), as in ReadCoreAsync
                    buffer[done..].Clear();
                    break;
                }
                done += read;
            }
        }
        catch (ObjectDisposedException)
        {
            // closed (revoked, or the connection is going): not an answer here; ReadAsync fails with the reason
            return false;
        }
        return true;
    }

    protected override bool TryGetCachedFileRangeCore(long offset, int length, out FileRange range)
    {
        range = default;
        try
        {
            // socket APIs take only handles marked for asynchronous I/O (FileStore opens volumes so)
            if (!_handle.IsAsync || Libc.IsCached(_handle, offset, length) != true)
            {
                return false;
            }
            range = new FileRange(View(), offset, length);
            return true;
        }
        catch (ObjectDisposedException)
        {
            // closed, as in TryReadCachedCore
            return false;
        }
    }

    private FileStream View() => Volatile.Read(ref _view) ?? CreateView();

    // made once, under a lock: a second stream, lost in a race, would be left to its finalizer
    private FileStream CreateView()
    {
        lock (_viewLock)
        {
            return _view ??= new FileStream(_handle, FileAccess.Read, bufferSize: 0, isAsync: true);
        }
    }

    protected override ValueTask ApplyAsync(WriteRequest request, ReadOnlyMemory<byte> data,
        CancellationToken cancellationToken) =>
        request.Kind switch
        {
            WriteKind.Write => WriteDataAsync(request, data),
            WriteKind.Trim => ZeroAsync(request, keepAllocated: false, fast: false, cancellationToken),
            WriteKind.WriteZeroes => ZeroAsync(request,
                keepAllocated: (request.Options & WriteOptions.NoHole) != 0,
                fast: (request.Options & WriteOptions.FastZero) != 0,
                cancellationToken),
            _ => ValueTask.FromException(new ArgumentOutOfRangeException(nameof(request), request.Kind, "unknown write kind")),
        };

    protected override ValueTask PrefetchCoreAsync(long offset, long length, CancellationToken cancellationToken)
    {
        // posix_fadvise(WILLNEED) queues readahead of the range and returns; a failure only means no prefetch
        _ = Libc.PosixFadvise(_handle, offset, length, Libc.PosixFadvWillNeed);
        return ValueTask.CompletedTask;
    }

    protected override ValueTask FlushCoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            DataSync($"flushing '{Name}'");
            return ValueTask.CompletedTask;
        }
        catch (Exception ex) when (ex is StoragePoolException or OperationCanceledException)
        {
            return ValueTask.FromException(ex);
        }
    }

    /// <summary>SEEK_DATA/SEEK_HOLE from <paramref name="offset"/>: holes are {Hole, Zero}, data is neither.</summary>
    protected override ValueTask<IReadOnlyList<BlockStatus>> GetBlockStatusCoreAsync(long offset, long length,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var end = offset + length;
        var runs = new List<BlockStatus>();
        var position = offset;
        while (position < end && runs.Count < MaxRunsPerStatus)
        {
            var data = Libc.LSeek(_handle, position, Libc.SeekData);
            if (data < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.ENXIO)
                {
                    return ValueTask.FromException<IReadOnlyList<BlockStatus>>(
                        Libc.Error(errno, $"mapping {length} bytes at offset {offset} of '{Name}' (lseek SEEK_DATA)"));
                }
                data = end; // no data at or after position, nor past the end of a file shorter than the volume
            }
            if (data > position)
            {
                var holeEnd = Math.Min(data, end);
                runs.Add(new BlockStatus(position, holeEnd - position, Hole: true, Zero: true));
                position = holeEnd;
                continue;
            }
            var hole = Libc.LSeek(_handle, position, Libc.SeekHole);
            if (hole <= position)
            {
                // The file changed under us (truncated between the two calls): say data, which is never wrong.
                hole = end;
            }
            var dataEnd = Math.Min(hole, end);
            runs.Add(new BlockStatus(position, dataEnd - position, Hole: false, Zero: false));
            position = dataEnd;
        }
        return ValueTask.FromResult<IReadOnlyList<BlockStatus>>(runs);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _direct?.Dispose();
            _handle.Dispose();
        }
    }

    private ValueTask WriteDataAsync(WriteRequest request, ReadOnlyMemory<byte> data)
    {
        try
        {
            if ((request.Options & WriteOptions.Uncached) == 0 || DirectHandle() is not { } direct
                || !Libc.TryWriteDirect(direct, data.Span, request.Offset, Describe(request)))
            {
                RandomAccess.Write(_handle, data.Span, request.Offset);
            }
            if ((request.Options & WriteOptions.Fua) != 0)
            {
                DataSync(Describe(request));
            }
            return ValueTask.CompletedTask;
        }
        catch (IOException ex)
        {
            return ValueTask.FromException(Failure(Describe(request), ex));
        }
        catch (StoragePoolException ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    /// <summary>The file opened again (through /proc/self/fd) with O_DIRECT, or null where the file system refuses it.</summary>
    private SafeFileHandle? DirectHandle()
    {
        if (Volatile.Read(ref _direct) is { } direct)
        {
            return direct;
        }
        if (Volatile.Read(ref _directRefused) != 0)
        {
            return null;
        }
        var opened = Libc.Open($"/proc/self/fd/{_handle.DangerousGetHandle()}", Libc.ORdWr | Libc.ODirect | Libc.OCloExec);
        if (opened.IsInvalid)
        {
            opened.Dispose();
            Volatile.Write(ref _directRefused, 1);
            return null;
        }
        var first = Interlocked.CompareExchange(ref _direct, opened, null);
        if (first is not null)
        {
            opened.Dispose();
            return first;
        }
        return opened;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ZeroAsync(WriteRequest request, bool keepAllocated, bool fast,
        CancellationToken cancellationToken)
    {
        if (request.Length == 0)
        {
            return;
        }
        await Task.Yield(); // fallocate blocks (a large punch takes a while): run it on the thread pool
        cancellationToken.ThrowIfCancellationRequested();
        if (!ZeroWithoutWriting(request, keepAllocated))
        {
            if (fast)
            {
                throw new StoragePoolException(ErrorCode.Unsupported,
                    $"cannot zero {request.Length} bytes at offset {request.Offset} of '{Name}' quickly: its file " +
                    "system can neither punch holes nor zero ranges, so zeroing means writing zeros; " +
                    "ask without fast-zero to have them written");
            }
            await WriteZerosAsync(request, cancellationToken);
        }
        if ((request.Options & WriteOptions.Fua) != 0)
        {
            DataSync(Describe(request));
        }
    }

    /// <summary>The fallocate ladder; false when the file system refuses every mode that fits.</summary>
    private bool ZeroWithoutWriting(WriteRequest request, bool keepAllocated)
    {
        if (!keepAllocated &&
            TryFallocate(Fallocation.PunchHole, Libc.FallocFlPunchHole | Libc.FallocFlKeepSize, request))
        {
            return true;
        }
        if (TryFallocate(Fallocation.ZeroRange, Libc.FallocFlZeroRange | Libc.FallocFlKeepSize, request))
        {
            return true;
        }
        // Only the allocation is asked again after a punch: if it is refused, writing zeros allocates.
        return keepAllocated &&
            (Refused & Fallocation.Allocate) == 0 &&
            TryFallocate(Fallocation.PunchHole, Libc.FallocFlPunchHole | Libc.FallocFlKeepSize, request) &&
            TryFallocate(Fallocation.Allocate, Libc.FallocFlKeepSize, request);
    }

    /// <summary>fallocate(mode) over the request's range: true when done, false when the file system refuses
    /// <paramref name="kind"/> (remembered); any other failure throws.</summary>
    private bool TryFallocate(Fallocation kind, int mode, WriteRequest request)
    {
        if ((Refused & kind) != 0)
        {
            return false;
        }
        while (Libc.FAllocate(_handle, mode, request.Offset, request.Length) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                continue;
            }
            if (errno is Libc.EOPNOTSUPP or Libc.ENOSYS or Libc.ENODEV)
            {
                Interlocked.Or(ref _refused, (int)kind);
                return false;
            }
            var flags = kind switch
            {
                Fallocation.PunchHole => " PUNCH_HOLE",
                Fallocation.ZeroRange => " ZERO_RANGE",
                _ => "",
            };
            throw Libc.Error(errno, $"{Describe(request)} (fallocate{flags})");
        }
        return true;
    }

    private async ValueTask WriteZerosAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        try
        {
            for (var done = 0L; done < request.Length;)
            {
                var chunk = (int)Math.Min(ZeroChunkSize, request.Length - done);
                await RandomAccess.WriteAsync(_handle, Zeros[..chunk], request.Offset + done, cancellationToken);
                done += chunk;
            }
        }
        catch (IOException ex)
        {
            throw Failure(Describe(request) + " (writing zeros)", ex);
        }
    }

    private void DataSync(string operation)
    {
        while (Libc.FDataSync(_handle) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EINTR)
            {
                throw Libc.Error(errno, operation + " (fdatasync)");
            }
        }
    }

    private string Describe(WriteRequest request) => request.Kind switch
    {
        WriteKind.Write => $"writing {request.Length} bytes at offset {request.Offset} of '{Name}'",
        WriteKind.Trim => $"trimming {request.Length} bytes at offset {request.Offset} of '{Name}'",
        _ => $"zeroing {request.Length} bytes at offset {request.Offset} of '{Name}'",
    };

    /// <summary>.NET's I/O exceptions carry the errno in <see cref="Exception.HResult"/> on Unix.</summary>
    private static StoragePoolException Failure(string operation, IOException ex)
    {
        var code = Libc.CodeFor(ex.HResult);
        var message = $"{operation} failed: {ex.Message}";
        return new StoragePoolException(code, code == ErrorCode.NoSpace ? message + Libc.NoSpaceAdvice : message, ex);
    }
}

/// <summary>The fallocate modes the zeroing ladder uses, as flags of what a file system refused.</summary>
[Flags]
internal enum Fallocation
{
    None = 0,
    PunchHole = 1,
    ZeroRange = 2,

    /// <summary>Plain allocation (mode 0 with KEEP_SIZE), used after a punch to give back allocated zeros.</summary>
    Allocate = 4,
}
