using System.Globalization;
using NUnit.Framework;
using StoragePool.Core.Errors;
using StoragePool.Core.Extents;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests;

public sealed class FileStoreVolumeTests
{
    private const long MiB = 1024 * 1024;
    private const int Block = VolumeFile.BlockSize;

    private TestDirectory _directory = null!;
    private FileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = new TestDirectory();
        _store = new FileStore(_directory.Path);
    }

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void Creating_a_volume_makes_a_thin_file_of_the_requested_size()
    {
        _store.CreateVolume("v1", 1024 * MiB);

        var path = _store.GetVolumePath("v1");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(path, Is.EqualTo(Path.Combine(_directory.Path, "volumes", "v1.img")));
            Assert.That(_store.VolumeExists("v1"), Is.True);
            Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(1024 * MiB));
            Assert.That(Tools.Output("stat", "-c", "%s %b %a", path), Is.EqualTo($"{1024 * MiB} 0 600"));
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.Zero);
            Assert.That(_store.GetVolumeExtents("v1"), Is.Empty);
            Assert.That(_store.ListVolumeIds(), Is.EqualTo(new[] { "v1" }));
        }
    }

    [Test]
    public void Creating_a_volume_again_with_the_same_size_keeps_its_data()
    {
        _store.CreateVolume("v1", MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, VolumeFile.Filled(Block, 7));

        _store.CreateVolume("v1", MiB);

        Assert.That(VolumeFile.Read(_store.GetVolumePath("v1"), 0, Block), Is.EqualTo(VolumeFile.Filled(Block, 7)));
        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
    }

    [Test]
    public void Creating_an_existing_volume_with_another_size_is_a_conflict_and_changes_nothing()
    {
        _store.CreateVolume("v1", MiB);

        Assert.That(() => _store.CreateVolume("v1", 2 * MiB), Fails.With(ErrorCode.Conflict, "'v1'", $"{MiB} bytes"));
        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
    }

    [Test]
    public void Repeating_a_create_that_stopped_before_the_size_was_set_finishes_it()
    {
        File.Create(_store.GetVolumePath("v1")).Dispose();

        _store.CreateVolume("v1", MiB);

        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
    }

    [Test]
    public void Creating_a_volume_of_negative_size_is_refused()
    {
        Assert.That(() => _store.CreateVolume("v1", -4096), Fails.With(ErrorCode.InvalidSize, "'v1'"));
        Assert.That(_store.VolumeExists("v1"), Is.False);
    }

    [Test]
    public void A_volume_of_zero_bytes_is_an_empty_file_that_can_grow()
    {
        _store.CreateVolume("v1", 0);
        Assert.That(_store.GetVolumeSize("v1"), Is.Zero);
        _store.ResizeVolume("v1", MiB);
        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
    }

    [Test]
    public void Ids_that_could_leave_the_store_directory_are_refused()
    {
        Assert.That(() => _store.CreateVolume("../escape", MiB), Fails.With(ErrorCode.InvalidArgument, "'../escape'"));
        Assert.That(() => _store.DeleteSnapshot(".."), Fails.With(ErrorCode.InvalidArgument, "'..'"));
        Assert.That(Directory.EnumerateFileSystemEntries(_directory.Path, "escape*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public void Deleting_a_volume_removes_its_file_and_can_be_repeated()
    {
        _store.CreateVolume("v1", MiB);

        _store.DeleteVolume("v1");
        _store.DeleteVolume("v1");

        Assert.That(File.Exists(_store.GetVolumePath("v1")), Is.False);
        Assert.That(_store.VolumeExists("v1"), Is.False);
        Assert.That(_store.ListVolumeIds(), Is.Empty);
    }

    [Test]
    public void Growing_keeps_the_data_and_allocates_nothing_new()
    {
        _store.CreateVolume("v1", MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, VolumeFile.Filled(Block, 1));

        _store.ResizeVolume("v1", 64 * MiB);

        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(64 * MiB));
        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(Block));
        Assert.That(VolumeFile.Read(_store.GetVolumePath("v1"), 0, Block), Is.EqualTo(VolumeFile.Filled(Block, 1)));
    }

    [Test]
    public void Shrinking_drops_the_data_past_the_new_end_and_growing_again_reads_zeros_there()
    {
        _store.CreateVolume("v1", 2 * MiB);
        var path = _store.GetVolumePath("v1");
        VolumeFile.Write(path, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(path, MiB + Block, VolumeFile.Filled(Block, 2));

        _store.ResizeVolume("v1", MiB);
        Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
        Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(Block));

        _store.ResizeVolume("v1", 2 * MiB);
        Assert.That(VolumeFile.Read(path, MiB + Block, Block), Is.EqualTo(new byte[Block]));
        Assert.That(_store.GetVolumeExtents("v1"), Is.EqualTo(new[] { new Extent(0, Block) }));
        Assert.That(VolumeFile.Read(path, 0, Block), Is.EqualTo(VolumeFile.Filled(Block, 1)));
    }

    [Test]
    public void Allocated_bytes_agree_with_stat_and_du()
    {
        _store.CreateVolume("v1", 64 * MiB);
        var path = _store.GetVolumePath("v1");
        VolumeFile.Write(path, 0, VolumeFile.Filled(3 * Block, 1));
        VolumeFile.Write(path, 10 * MiB, VolumeFile.Filled(Block, 2));
        VolumeFile.Write(path, 63 * MiB, VolumeFile.Filled((int)MiB, 3));

        var allocated = _store.GetVolumeAllocatedBytes("v1");

        var stat = Tools.Output("stat", "-c", "%b %B", path).Split(' ')
            .Select(field => long.Parse(field, CultureInfo.InvariantCulture)).ToArray();
        var du = long.Parse(Tools.Output("du", "--block-size=1", path).Split('\t')[0], CultureInfo.InvariantCulture);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(allocated, Is.EqualTo(stat[0] * stat[1]));
            Assert.That(allocated, Is.EqualTo(du));
            // ext4 may add one block of extent tree when the 1 MiB write lands in several pieces.
            Assert.That(allocated, Is.InRange(4 * Block + MiB, 5 * Block + MiB));
        }
    }

    [Test]
    public void Usage_is_what_statvfs_tells_df()
    {
        string[] Df() => Tools.Output("stat", "-f", "-c", "%b %S %a", _directory.Path).Split(' ');

        var before = Df();
        var usage = _store.GetUsage();
        var after = Df();

        var fragment = long.Parse(before[1], CultureInfo.InvariantCulture);
        var freeBefore = long.Parse(before[2], CultureInfo.InvariantCulture) * fragment;
        var freeAfter = long.Parse(after[2], CultureInfo.InvariantCulture) * fragment;
        // Other processes write to this file system too: free space is only stable to a few MiB.
        var slack = 64 * MiB;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(usage.CapacityBytes, Is.EqualTo(long.Parse(before[0], CultureInfo.InvariantCulture) * fragment));
            Assert.That(usage.FreeBytes,
                Is.InRange(Math.Min(freeBefore, freeAfter) - slack, Math.Max(freeBefore, freeAfter) + slack));
            Assert.That(usage.CapacityBytes, Is.EqualTo(new DriveInfo(_directory.Path).TotalSize));
        }
    }

    [Test]
    public void Operations_on_a_missing_volume_say_VolumeNotFound_and_name_it()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => _store.GetVolumeSize("ghost"), Fails.With(ErrorCode.VolumeNotFound, "volume 'ghost'"));
            Assert.That(() => _store.GetVolumeAllocatedBytes("ghost"), Fails.With(ErrorCode.VolumeNotFound, "'ghost'"));
            Assert.That(() => _store.GetVolumeExtents("ghost"), Fails.With(ErrorCode.VolumeNotFound, "'ghost'"));
            Assert.That(() => _store.ResizeVolume("ghost", MiB), Fails.With(ErrorCode.VolumeNotFound, "'ghost'"));
            Assert.That(async () => await _store.CreateSnapshotAsync("ghost", "s1"),
                Fails.With(ErrorCode.VolumeNotFound, "'ghost'"));
        }
        Assert.That(_store.VolumeExists("ghost"), Is.False);
        Assert.That(_store.SnapshotExists("s1"), Is.False);
    }

    [Test]
    public void Opening_a_store_removes_leftover_temporary_files_and_lists_only_images()
    {
        _store.CreateVolume("v2", MiB);
        _store.CreateVolume("v1", MiB);
        var volumes = Path.Combine(_directory.Path, "volumes");
        var snapshots = Path.Combine(_directory.Path, "snapshots");
        File.WriteAllText(Path.Combine(volumes, "v3.img.tmp"), "partial clone");
        File.WriteAllText(Path.Combine(volumes, "v1.img.revert.tmp"), "partial revert");
        File.WriteAllText(Path.Combine(snapshots, "s1.img.tmp"), "partial snapshot");
        Assert.That(_store.ListVolumeIds(), Is.EqualTo(new[] { "v1", "v2" }));
        Assert.That(_store.ListSnapshotIds(), Is.Empty);

        var reopened = new FileStore(_directory.Path);

        Assert.That(Directory.GetFiles(volumes).Select(Path.GetFileName), Is.EquivalentTo(new[] { "v1.img", "v2.img" }));
        Assert.That(Directory.GetFiles(snapshots), Is.Empty);
        Assert.That(reopened.ListVolumeIds(), Is.EqualTo(new[] { "v1", "v2" }));
    }
}
