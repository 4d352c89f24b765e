using StoragePool.Core.Errors;
using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests.IO;

/// <summary>
/// Trim and write-zeroes: holes where allowed, allocated zeros with NoHole, and the fallbacks when the file system
/// refuses a fallocate mode. ext4 (the temp directory) has every mode; tmpfs has no ZERO_RANGE; a file system with
/// neither punching nor zeroing is simulated by telling the volume those modes were refused.
/// </summary>
public sealed class ZeroingTests
{
    private const int Block = VolumeFile.BlockSize;
    private const int Blocks = 64;
    private const long Size = Blocks * Block;

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
        VolumeFile.Write(_path, 0, VolumeFile.Filled((int)Size, 7));
        _volume = _store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);
    }

    [TearDown]
    public void TearDown()
    {
        _volume.Dispose();
        _directory.Dispose();
    }

    [Test]
    public async Task A_trim_punches_a_hole_that_reads_as_zeros()
    {
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await _volume.TrimAsync(8 * Block, 16 * Block, WriteOptions.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated - 16 * Block));
            Assert.That(await _volume.ReadAsync(8 * Block, 16 * Block), Is.All.Zero);
            Assert.That(await _volume.ReadAsync(0, 8 * Block), Is.All.EqualTo(7));
            Assert.That(await _volume.ReadAsync(24 * Block, 40 * Block), Is.All.EqualTo(7));
            Assert.That(await _volume.GetBlockStatusAsync(8 * Block, 16 * Block),
                Is.EqualTo(new[] { new BlockStatus(8 * Block, 16 * Block, Hole: true, Zero: true) }));
        }
    }

    [TestCase(WriteOptions.None)]
    [TestCase(WriteOptions.Fua)]
    public async Task An_unaligned_trim_zeroes_exactly_its_range_and_frees_the_whole_blocks_inside(WriteOptions options)
    {
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await _volume.TrimAsync(Block + 1000, 3 * Block, options); // blocks 2 and 3 whole, 1 and 4 in part

        var all = VolumeFile.ReadAll(_path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(all[..(Block + 1000)], Is.All.EqualTo(7));
            Assert.That(all[(Block + 1000)..(4 * Block + 1000)], Is.All.Zero);
            Assert.That(all[(4 * Block + 1000)..], Is.All.EqualTo(7));
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated - 2 * Block));
        }
    }

    [Test]
    public async Task Write_zeroes_without_NoHole_punches_a_hole()
    {
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await _volume.WriteZeroesAsync(0, 32 * Block, WriteOptions.None);

        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated - 32 * Block));
        Assert.That(await _volume.ReadAsync(0, 32 * Block), Is.All.Zero);
        Assert.That(await _volume.ReadAsync(32 * Block, 32 * Block), Is.All.EqualTo(7));
    }

    [Test]
    public async Task Write_zeroes_with_NoHole_keeps_written_blocks_allocated()
    {
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await _volume.WriteZeroesAsync(Block + 5, 32 * Block, WriteOptions.NoHole | WriteOptions.Fua);

        var all = VolumeFile.ReadAll(_path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated));
            Assert.That(all[..(Block + 5)], Is.All.EqualTo(7));
            Assert.That(all[(Block + 5)..(33 * Block + 5)], Is.All.Zero);
            Assert.That(all[(33 * Block + 5)..], Is.All.EqualTo(7));
        }
    }

    [Test]
    public async Task Write_zeroes_with_NoHole_allocates_a_hole()
    {
        await _volume.TrimAsync(0, Size, WriteOptions.None);
        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.Zero);

        await _volume.WriteZeroesAsync(0, 16 * Block, WriteOptions.NoHole);

        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(16 * Block));
        Assert.That(await _volume.ReadAllAsync(), Is.All.Zero);
    }

    [TestCase(WriteOptions.FastZero)]
    [TestCase(WriteOptions.FastZero | WriteOptions.NoHole)]
    public async Task Fast_zeroes_succeed_where_the_file_system_zeroes_without_writing(WriteOptions options)
    {
        await _volume.WriteZeroesAsync(0, Size, options);

        Assert.That(await _volume.ReadAllAsync(), Is.All.Zero);
    }

    [TestCase(WriteOptions.FastZero)]
    [TestCase(WriteOptions.FastZero | WriteOptions.NoHole)]
    public void Fast_zeroes_are_unsupported_where_zeroing_means_writing_and_change_nothing(WriteOptions options)
    {
        using var volume = OpenRefusing(Fallocation.PunchHole | Fallocation.ZeroRange | Fallocation.Allocate);

        Assert.That(async () => await volume.WriteZeroesAsync(Block, Block, options),
            Fails.With(ErrorCode.Unsupported, "cannot zero 4096 bytes at offset 4096 of 'pool/v1' quickly", "without fast-zero"));
        Assert.That(VolumeFile.ReadAll(_path), Is.All.EqualTo(7));
    }

    [Test]
    public async Task Where_the_file_system_can_neither_punch_nor_zero_zeros_are_written()
    {
        await using var volume = OpenRefusing(Fallocation.PunchHole | Fallocation.ZeroRange | Fallocation.Allocate);
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await volume.TrimAsync(100, 3 * (long)Block, WriteOptions.None);
        await volume.WriteZeroesAsync(10 * Block, 40 * Block, WriteOptions.Fua);
        await volume.WriteZeroesAsync(60 * Block, 4 * Block, WriteOptions.NoHole);

        var all = VolumeFile.ReadAll(_path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(all[..100], Is.All.EqualTo(7));
            Assert.That(all[100..(3 * Block + 100)], Is.All.Zero);
            Assert.That(all[(3 * Block + 100)..(10 * Block)], Is.All.EqualTo(7));
            Assert.That(all[(10 * Block)..(50 * Block)], Is.All.Zero);
            Assert.That(all[(50 * Block)..(60 * Block)], Is.All.EqualTo(7));
            Assert.That(all[(60 * Block)..], Is.All.Zero);
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated), "written zeros stay allocated");
        }
    }

    [Test]
    public async Task Where_the_file_system_cannot_punch_a_trim_zeroes_the_range_in_place()
    {
        await using var volume = OpenRefusing(Fallocation.PunchHole);
        var allocated = _store.GetVolumeAllocatedBytes("v1");

        await volume.TrimAsync(0, 8 * Block, WriteOptions.None);

        Assert.That(await volume.ReadAsync(0, 8 * Block), Is.All.Zero);
        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated));
        Assert.That(volume.Refused, Is.EqualTo(Fallocation.PunchHole));
    }

    [Test]
    public async Task On_tmpfs_which_has_no_zero_range_NoHole_punches_and_allocates_and_remembers_the_refusal()
    {
        using var tmpfs = new Tmpfs("size=4m");
        var store = new FileStore(tmpfs.Path);
        store.CreateVolume("v1", Size);
        VolumeFile.Write(store.GetVolumePath("v1"), 0, VolumeFile.Filled((int)Size, 7));
        await using var volume = (FileBlockVolume)store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);
        var allocated = store.GetVolumeAllocatedBytes("v1");

        await volume.WriteZeroesAsync(Block, 8 * Block, WriteOptions.NoHole);
        await volume.WriteZeroesAsync(20 * Block + 7, 8 * Block, WriteOptions.NoHole | WriteOptions.FastZero);

        var all = VolumeFile.ReadAll(store.GetVolumePath("v1"));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(volume.Refused, Is.EqualTo(Fallocation.ZeroRange));
            Assert.That(store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated));
            Assert.That(all[..Block], Is.All.EqualTo(7));
            Assert.That(all[Block..(9 * Block)], Is.All.Zero);
            Assert.That(all[(9 * Block)..(20 * Block + 7)], Is.All.EqualTo(7));
            Assert.That(all[(20 * Block + 7)..(28 * Block + 7)], Is.All.Zero);
            Assert.That(all[(28 * Block + 7)..], Is.All.EqualTo(7));
        }

        await volume.TrimAsync(0, Size, WriteOptions.None);
        Assert.That(store.GetVolumeAllocatedBytes("v1"), Is.Zero);
    }

    [Test]
    public void A_write_that_fills_the_file_system_says_NoSpace()
    {
        using var tmpfs = new Tmpfs("size=1m");
        var store = new FileStore(tmpfs.Path);
        store.CreateVolume("v1", 4 * 1024 * 1024);
        using var volume = store.OpenVolume("v1", "pool/v1", WritePath.Empty, CancellationToken.None);

        Assert.That(async () => await volume.WriteAsync(0, new byte[2 * 1024 * 1024], WriteOptions.None),
            Fails.With(ErrorCode.NoSpace, "writing 2097152 bytes at offset 0 of 'pool/v1' failed", "free space"));
        Assert.That(async () => await volume.WriteZeroesAsync(0, 2 * 1024 * 1024, WriteOptions.NoHole),
            Fails.With(ErrorCode.NoSpace, "zeroing 2097152 bytes at offset 0 of 'pool/v1' (fallocate)", "free space"));
    }

    private FileBlockVolume OpenRefusing(Fallocation refused) =>
        new(File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite), "pool/v1", Size,
            readOnly: false, WritePath.Empty, CancellationToken.None, refused);
}
