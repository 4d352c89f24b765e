using StoragePool.Core.Errors;
using StoragePool.Interop;
using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;
using static StoragePool.Interop.Interop;

namespace StoragePool.Storage.Tests.IO;

/// <summary>Reads, writes, flushes, block status and range checks of a <c>file</c> store volume, on the temp directory's ext4.</summary>
public sealed class FileBlockVolumeTests
{
    private const int Block = VolumeFile.BlockSize;
    private const long MiB = 1024 * 1024;

    /// <summary>Not a multiple of the block size: the last block is partial.</summary>
    private const long Size = MiB + 1234;

    private TestDirectory _directory = null!;
    private FileStore _store = null!;
    private string _path = null!;
    private BlockVolume _volume = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = new TestDirectory();
        _store = new FileStore(_directory.Path);
        _store.CreateVolume("v1", Size);
        _path = _store.GetVolumePath("v1");
        _volume = _store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);
    }

    [TearDown]
    public void TearDown()
    {
        _volume.Dispose();
        _directory.Dispose();
    }

    [Test]
    public void An_open_volume_has_its_name_size_and_revocation()
    {
        using var revocation = new CancellationTokenSource();
        using var volume = _store.OpenVolume("v1", "pool/v1", WritePath.Empty, revocation.Token);
        revocation.Cancel();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(volume.Name, Is.EqualTo("pool/v1"));
            Assert.That(volume.Size, Is.EqualTo(Size));
            Assert.That(volume.ReadOnly, Is.False);
            Assert.That(volume.Revoked.IsCancellationRequested, Is.True);
        }
    }

    [Test]
    public async Task An_uncached_write_that_is_aligned_bypasses_the_page_cache_and_any_other_goes_through_it()
    {
        var aligned = AlignedBuffer.Allocate(64 * Block);
        Random.Shared.NextBytes(aligned.Span);
        await _volume.WriteAsync(4 * Block, aligned, WriteOptions.Uncached, CancellationToken.None);
        Assert.That(await ResidentBytesAsync(), Is.Zero, "the aligned write went to the disk (O_DIRECT), not into the page cache");

        // misaligned buffer, offset or length: the same bytes, through the page cache
        var unaligned = aligned[1..(Block + 1)].ToArray();
        await _volume.WriteAsync(100 * Block + 7, unaligned, WriteOptions.Uncached, CancellationToken.None);
        Assert.That(await ResidentBytesAsync(), Is.GreaterThan(0));

        var back = new byte[64 * Block];
        await _volume.ReadAsync(4 * Block, back, CancellationToken.None);
        Assert.That(back, Is.EqualTo(aligned.ToArray()));
        var backUnaligned = new byte[Block];
        await _volume.ReadAsync(100 * Block + 7, backUnaligned, CancellationToken.None);
        Assert.That(backUnaligned, Is.EqualTo(unaligned));
    }

    /// <summary>How much of the volume's file is in the page cache (util-linux fincore).</summary>
    private async Task<long> ResidentBytesAsync() =>
        long.Parse(await Tools.OutputAsync("fincore", "--bytes", "--noheadings", "--output", "RES", _path), System.Globalization.CultureInfo.InvariantCulture);

    [Test]
    public async Task A_read_the_page_cache_holds_is_had_without_waiting_and_one_that_needs_the_disk_is_not()
    {
        var data = VolumeFile.Filled(16 * Block, 0x3c);
        await _volume.WriteAsync(0, data, WriteOptions.None);
        var got = new byte[data.Length];
        Assert.That(_volume.TryReadCached(0, got), Is.True, "just written: in the page cache");
        Assert.That(got, Is.EqualTo(data));

        await _volume.FlushAsync();
        // preadv2(RWF_NOWAIT) alone starts read-ahead on a miss and, in a few per cent of tries here, returns the bytes
        // that read-ahead brought in meanwhile: the volume must look first, so that a miss starts no I/O
        using (var handle = File.OpenHandle(_path))
        {
            for (var attempt = 0; attempt < 100; attempt++)
            {
                Assert.That(Libc.PosixFadvise(handle, 0, 0, Libc.PosixFadvDontNeed), Is.Zero);
                Assert.That(_volume.TryReadCached(0, got), Is.False, $"evicted: reading it would wait for the disk (try {attempt})");
            }
        }
        await _volume.ReadAsync(0, got);
        Assert.That(got, Is.EqualTo(data));
        Array.Clear(got);
        Assert.That(_volume.TryReadCached(0, got), Is.True, "read once: cached again");
        Assert.That(got, Is.EqualTo(data));
        Assert.That(_volume.TryReadCached(Size - 10, new byte[20]), Is.False, "past the end: no answer here, ReadAsync says why");
    }

    [Test]
    public async Task A_range_the_page_cache_holds_is_given_as_the_files_bytes_and_one_that_needs_the_disk_is_not()
    {
        var data = VolumeFile.Filled(16 * Block, 0x5e);
        await _volume.WriteAsync(4 * Block, data, WriteOptions.None);

        Assert.That(_volume.TryGetCachedFileRange(4 * Block + 100, data.Length - 200, out var range), Is.True, "just written: in the page cache");
        Assert.That((range.Offset, range.Length), Is.EqualTo((4 * Block + 100, data.Length - 200)));
        var got = new byte[range.Length];
        Assert.That(RandomAccess.Read(range.File.SafeFileHandle, got, range.Offset), Is.EqualTo(got.Length));
        Assert.That(got, Is.EqualTo(data.AsSpan(100, data.Length - 200).ToArray()), "the range is the volume's bytes");
        Assert.That(_volume.TryGetCachedFileRange(3 * Block, 2 * Block, out _), Is.False, "half of it never read nor written: not cached");

        await _volume.FlushAsync();
        using (var handle = File.OpenHandle(_path))
        {
            Assert.That(Libc.PosixFadvise(handle, 0, 0, Libc.PosixFadvDontNeed), Is.Zero);
        }
        Assert.That(_volume.TryGetCachedFileRange(4 * Block, data.Length, out _), Is.False, "evicted: sending it would wait for the disk");
        await _volume.ReadAsync(4 * Block, got);
        Assert.That(_volume.TryGetCachedFileRange(4 * Block + 100, data.Length - 200, out _), Is.True, "read once: cached again");
        Assert.That(_volume.TryGetCachedFileRange(Size - 10, 20, out _), Is.False, "past the end");
        Assert.That(_volume.TryGetCachedFileRange(0, 0, out _), Is.False, "empty");
    }

    [Test]
    public void Opening_a_volume_that_is_not_there_says_so()
    {
        Assert.That(() => _store.OpenVolume("nope", "pool/nope", WritePath.Empty, CancellationToken.None),
            Fails.With(ErrorCode.VolumeNotFound, "'nope'"));
        Assert.That(() => _store.OpenSnapshot("nope", "pool/v1@nope", CancellationToken.None),
            Fails.With(ErrorCode.SnapshotNotFound, "'nope'"));
    }

    [Test]
    public async Task A_new_volume_reads_as_zeros()
    {
        Assert.That(await _volume.ReadAllAsync(), Is.All.Zero);
    }

    [TestCase(0, Block)]
    [TestCase(1, 1)]
    [TestCase(Block - 1, 2)]
    [TestCase(12345, 100000)]
    [TestCase(Size - 7, 7)]
    [TestCase(0, (int)Size)]
    public async Task Bytes_written_at_any_offset_read_back_the_same_and_land_in_the_file(long offset, int length)
    {
        var data = VolumeIo.Pattern(length, (int)offset);

        await _volume.WriteAsync(offset, data, WriteOptions.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(await _volume.ReadAsync(offset, length), Is.EqualTo(data));
            Assert.That(VolumeFile.Read(_path, offset, length), Is.EqualTo(data));
            Assert.That(await _volume.ReadAsync(0, (int)offset), Is.All.Zero);
            Assert.That(await _volume.ReadAsync(offset + length, (int)(Size - offset - length)), Is.All.Zero);
            Assert.That(new FileInfo(_path).Length, Is.EqualTo(Size));
        }
    }

    [Test]
    public async Task A_write_with_FUA_and_a_flush_succeed_and_are_seen_through_another_open()
    {
        await using var other = _store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);
        var first = VolumeIo.Pattern(3 * Block, 1);
        var second = VolumeIo.Pattern(5000, 2);

        await _volume.WriteAsync(0, first, WriteOptions.Fua);
        await other.WriteAsync(Size - second.Length, second, WriteOptions.None);
        await _volume.FlushAsync();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(await other.ReadAsync(0, first.Length), Is.EqualTo(first));
            Assert.That(await _volume.ReadAsync(Size - second.Length, second.Length), Is.EqualTo(second));
            Assert.That(VolumeFile.Read(_path, 0, first.Length), Is.EqualTo(first));
        }
    }

    [Test]
    public async Task A_volume_whose_file_shrank_after_opening_reads_zeros_past_the_new_end()
    {
        await _volume.WriteAsync(0, VolumeFile.Filled((int)Size, 9), WriteOptions.None);
        using (var handle = File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            RandomAccess.SetLength(handle, 3 * Block);
        }

        var read = await _volume.ReadAsync(2 * Block, 2 * Block);
        var status = await _volume.GetBlockStatusAsync(0, Size);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(read[..Block], Is.All.EqualTo(9));
            Assert.That(read[Block..], Is.All.Zero);
            Assert.That(status, Is.EqualTo(new[]
            {
                new BlockStatus(0, 3 * Block, Hole: false, Zero: false),
                new BlockStatus(3 * Block, Size - 3 * Block, Hole: true, Zero: true),
            }));
        }
    }

    [Test]
    public async Task Block_status_of_a_new_volume_is_one_hole()
    {
        Assert.That(await _volume.GetBlockStatusAsync(0, Size),
            Is.EqualTo(new[] { new BlockStatus(0, Size, Hole: true, Zero: true) }));
    }

    [Test]
    public async Task Block_status_follows_the_written_blocks()
    {
        await _volume.WriteAsync(2 * Block, VolumeFile.Filled(Block, 1), WriteOptions.None);
        await _volume.WriteAsync(5 * Block, VolumeFile.Filled(2 * Block, 1), WriteOptions.None);

        Assert.That(await _volume.GetBlockStatusAsync(0, Size), Is.EqualTo(new[]
        {
            new BlockStatus(0, 2 * Block, Hole: true, Zero: true),
            new BlockStatus(2 * Block, Block, Hole: false, Zero: false),
            new BlockStatus(3 * Block, 2 * Block, Hole: true, Zero: true),
            new BlockStatus(5 * Block, 2 * Block, Hole: false, Zero: false),
            new BlockStatus(7 * Block, Size - 7 * Block, Hole: true, Zero: true),
        }));
    }

    [Test]
    public async Task Block_status_starts_at_the_offset_asked_and_stops_at_the_length_asked()
    {
        await _volume.WriteAsync(2 * Block, VolumeFile.Filled(Block, 1), WriteOptions.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(await _volume.GetBlockStatusAsync(100, 3 * Block), Is.EqualTo(new[]
            {
                new BlockStatus(100, 2 * Block - 100, Hole: true, Zero: true),
                new BlockStatus(2 * Block, Block, Hole: false, Zero: false),
                new BlockStatus(3 * Block, 100, Hole: true, Zero: true),
            }));
            Assert.That(await _volume.GetBlockStatusAsync(2 * Block + 10, 50),
                Is.EqualTo(new[] { new BlockStatus(2 * Block + 10, 50, Hole: false, Zero: false) }));
            Assert.That(await _volume.GetBlockStatusAsync(Size - 1, 1),
                Is.EqualTo(new[] { new BlockStatus(Size - 1, 1, Hole: true, Zero: true) }));
            Assert.That(await _volume.GetBlockStatusAsync(Size, 0), Is.Empty);
        }
    }

    [Test]
    public async Task Block_status_answers_at_most_a_bounded_number_of_runs_from_the_start()
    {
        const int Runs = FileBlockVolume.MaxRunsPerStatus + 100;
        _store.CreateVolume("big", (long)Runs * Block);
        await using var volume = _store.OpenVolume("big", "pool/big", WritePath.Empty, CancellationToken.None);
        var one = VolumeFile.Filled(Block, 1);
        for (var block = 1; block < Runs; block += 2)
        {
            await volume.WriteAsync((long)block * Block, one, WriteOptions.None);
        }

        var status = await volume.GetBlockStatusAsync(0, volume.Size);

        Assert.That(status, Has.Count.EqualTo(FileBlockVolume.MaxRunsPerStatus));
        Assert.That(status[0].Offset, Is.Zero);
        for (var i = 0; i < status.Count; i++)
        {
            Assert.That(status[i], Is.EqualTo(new BlockStatus((long)i * Block, Block, Hole: i % 2 == 0, Zero: i % 2 == 0)));
        }
    }

    [Test]
    public void Requests_outside_the_volume_are_refused_and_change_nothing()
    {
        VolumeFile.Write(_path, 0, VolumeIo.Pattern(8 * Block, 3));
        var before = VolumeFile.ReadAll(_path);
        var bad = new (long Offset, long Length)[]
        {
            (Size, 1), (Size - 1, 2), (-1, 1), (0, -1), (long.MaxValue, 1), (1, long.MaxValue), (long.MinValue, 2),
        };

        foreach (var (offset, length) in bad)
        {
            Assert.That(async () => await _volume.TrimAsync(offset, length, WriteOptions.None),
                Fails.With(ErrorCode.InvalidArgument, "cannot trim", $"offset {offset}", "'pool/v1'", $"{Size} bytes"));
            Assert.That(async () => await _volume.WriteZeroesAsync(offset, length, WriteOptions.NoHole),
                Fails.With(ErrorCode.InvalidArgument, "cannot zero", $"{length} bytes"));
            Assert.That(async () => await _volume.GetBlockStatusAsync(offset, length),
                Fails.With(ErrorCode.InvalidArgument, "cannot map"));
            Assert.That(async () => await _volume.PrefetchAsync(offset, length),
                Fails.With(ErrorCode.InvalidArgument, "cannot prefetch"));
        }
        foreach (var offset in new[] { Size, Size - 1, -1, long.MaxValue, long.MinValue })
        {
            Assert.That(async () => await _volume.WriteAsync(offset, new byte[2], WriteOptions.Fua),
                Fails.With(ErrorCode.InvalidArgument, "cannot write 2 bytes", $"offset {offset}", "'pool/v1'"));
        }
        Assert.That(async () => await _volume.ReadAsync(Size - 1, new byte[2]),
            Fails.With(ErrorCode.InvalidArgument, "cannot read 2 bytes", $"offset {Size - 1}", $"{Size} bytes"));

        Assert.That(VolumeFile.ReadAll(_path), Is.EqualTo(before));
    }

    [Test]
    public async Task A_snapshot_opens_read_only_with_the_snapshots_bytes_and_refuses_changes()
    {
        var data = VolumeIo.Pattern(2 * Block, 5);
        await _volume.WriteAsync(Block, data, WriteOptions.Fua);
        await _store.CreateSnapshotAsync("v1", "s1");
        await _volume.WriteAsync(Block, VolumeFile.Filled(2 * Block, 1), WriteOptions.None);
        var stage = new RecordingStage();

        await using var snapshot = _store.OpenSnapshot("s1", "pool/v1@s1", CancellationToken.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(snapshot.ReadOnly, Is.True);
            Assert.That(snapshot.Size, Is.EqualTo(Size));
            Assert.That(await snapshot.ReadAsync(Block, data.Length), Is.EqualTo(data));
            Assert.That(async () => await snapshot.WriteAsync(0, new byte[1], WriteOptions.None),
                Fails.With(ErrorCode.PermissionDenied, "'pool/v1@s1'", "read-only"));
            Assert.That(async () => await snapshot.TrimAsync(0, Block, WriteOptions.None),
                Fails.With(ErrorCode.PermissionDenied, "cannot trim"));
            Assert.That(async () => await snapshot.WriteZeroesAsync(0, Block, WriteOptions.FastZero),
                Fails.With(ErrorCode.PermissionDenied, "cannot zero"));
            Assert.That(async () => await snapshot.FlushAsync(), Throws.Nothing);
            Assert.That((await snapshot.GetBlockStatusAsync(0, Size))[0], Is.EqualTo(new BlockStatus(0, Block, true, true)));
            Assert.That(VolumeFile.Read(_store.GetSnapshotPath("s1"), Block, data.Length), Is.EqualTo(data));
        }
    }

    [Test]
    public async Task Disposing_a_volume_closes_its_file_and_later_requests_fail()
    {
        var before = VolumeIo.OpenDescriptors(_path);
        var volume = _store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);
        Assert.That(VolumeIo.OpenDescriptors(_path), Is.EqualTo(before + 1));
        await volume.WriteAsync(0, new byte[] { 1 }, WriteOptions.None);
        Assert.That(volume.TryGetCachedFileRange(0, 1, out _), Is.True);
        Assert.That(VolumeIo.OpenDescriptors(_path), Is.EqualTo(before + 1), "a file range shares the volume's descriptor");

        await volume.DisposeAsync();

        Assert.That(VolumeIo.OpenDescriptors(_path), Is.EqualTo(before));
        Assert.That(async () => await volume.ReadAsync(0, new byte[1]), Throws.InstanceOf<ObjectDisposedException>());
        Assert.That(volume.TryReadCached(0, new byte[1]), Is.False, "no answer without waiting: ReadAsync says why");
        Assert.That(volume.TryGetCachedFileRange(0, 1, out _), Is.False);
    }

    [Test]
    public async Task Many_concurrent_writers_and_readers_on_one_volume_end_with_every_block_right()
    {
        // Blocks 0-127: two written by each task; 128-191: one zeroed by each; 192-255: one trimmed by each.
        const int Tasks = 64;
        const int Written = 2;
        VolumeFile.Write(_path, 2 * Tasks * Block, VolumeFile.Filled(2 * Tasks * Block, 0xff));
        await using var volume = _store.OpenVolume("v1", "pool/v1", new WritePath([new RecordingStage { Yields = true }]),
            CancellationToken.None);

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            for (var i = 0; i < Written; i++)
            {
                var block = (long)(i * Tasks + task);
                var data = VolumeIo.Pattern(Block, (int)block);
                await volume.WriteAsync(block * Block, data, i % 2 == 0 ? WriteOptions.None : WriteOptions.Fua);
                Assert.That(await volume.ReadAsync(block * Block, Block), Is.EqualTo(data));
            }
            await volume.WriteZeroesAsync((2L * Tasks + task) * Block, Block, task % 2 == 0 ? WriteOptions.NoHole : WriteOptions.None);
            await volume.TrimAsync((3L * Tasks + task) * Block, Block, WriteOptions.None);
            if (task % 8 == 0)
            {
                await volume.FlushAsync();
            }
        })));

        var all = VolumeFile.ReadAll(_path);
        for (var block = 0; block < Written * Tasks; block++)
        {
            Assert.That(all.AsSpan(block * Block, Block).ToArray(), Is.EqualTo(VolumeIo.Pattern(Block, block)),
                $"block {block}");
        }
        Assert.That(all.AsSpan(Written * Tasks * Block).ContainsAnyExcept((byte)0), Is.False);
    }
}
