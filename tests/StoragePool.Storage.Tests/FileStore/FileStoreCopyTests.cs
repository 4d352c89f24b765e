using NUnit.Framework;
using StoragePool.Core.Errors;
using StoragePool.Core.Extents;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests;

/// <summary>
/// Snapshots, clones and reverts, once as the store chooses (FICLONE where the temp directory's file system
/// can, which <c>cp --reflink=always</c> tells) and once with the sparse copy forced.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class FileStoreCopyTests(bool forceSparseCopy)
{
    private const long MiB = 1024 * 1024;
    private const int Block = VolumeFile.BlockSize;

    private TestDirectory _directory = null!;
    private FileStore _store = null!;
    private CopyMethod _expectedMethod;

    [SetUp]
    public void SetUp()
    {
        _directory = new TestDirectory();
        _store = new FileStore(_directory.Path, forceSparseCopy);
        _expectedMethod = !forceSparseCopy && CpCanReflink(_directory.Path) ? CopyMethod.Reflink : CopyMethod.SparseCopy;
    }

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Copies_are_reflinks_where_the_file_system_can_and_sparse_copies_elsewhere()
    {
        _store.CreateVolume("v1", MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, VolumeFile.Filled(Block, 1));

        var snapshot = await _store.CreateSnapshotAsync("v1", "s1");
        var again = await _store.CreateSnapshotAsync("v1", "s2");
        var clone = await _store.CloneFromSnapshotAsync("s1", "v2");
        var revert = await _store.RevertToSnapshotAsync("v1", "s2");

        Assert.That(new[] { snapshot, again, clone, revert }, Is.All.EqualTo(_expectedMethod));
    }

    [Test]
    public async Task A_snapshot_keeps_the_bytes_of_the_moment_it_was_taken()
    {
        _store.CreateVolume("v1", 4 * MiB);
        var volume = _store.GetVolumePath("v1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(volume, 2 * MiB, VolumeFile.Filled(3 * Block, 2));
        var taken = VolumeFile.ReadAll(volume);

        await _store.CreateSnapshotAsync("v1", "s1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 5));
        VolumeFile.Write(volume, 3 * MiB, VolumeFile.Filled(Block, 6));
        _store.ResizeVolume("v1", 8 * MiB);

        var snapshot = _store.GetSnapshotPath("s1");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(snapshot, Is.EqualTo(Path.Combine(_directory.Path, "snapshots", "s1.img")));
            Assert.That(_store.SnapshotExists("s1"), Is.True);
            Assert.That(_store.ListSnapshotIds(), Is.EqualTo(new[] { "s1" }));
            Assert.That(VolumeFile.ReadAll(snapshot), Is.EqualTo(taken));
        }
    }

    [Test]
    public async Task A_snapshot_is_read_only_and_as_sparse_as_its_volume()
    {
        _store.CreateVolume("v1", 64 * MiB);
        var volume = _store.GetVolumePath("v1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(volume, 8 * MiB, VolumeFile.Filled(2 * (int)MiB, 2));
        VolumeFile.Write(volume, 32 * MiB, new byte[Block]); // allocated, but all zeros

        await _store.CreateSnapshotAsync("v1", "s1");

        var data = new[] { new Extent(0, Block), new Extent(8 * MiB, 2 * MiB) };
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Tools.Output("stat", "-c", "%a %s", _store.GetSnapshotPath("s1")), Is.EqualTo($"400 {64 * MiB}"));
            Assert.That(_store.GetSnapshotAllocatedBytes("s1"), Is.LessThanOrEqualTo(_store.GetVolumeAllocatedBytes("v1")));
            // A reflink shares every block, the zero one too; the sparse copy leaves zero blocks out.
            Assert.That(_store.GetSnapshotExtents("s1"),
                Is.EqualTo(_expectedMethod == CopyMethod.Reflink ? _store.GetVolumeExtents("v1") : data));
        }
    }

    [Test]
    public async Task Repeating_a_snapshot_replaces_a_partial_copy()
    {
        _store.CreateVolume("v1", MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, VolumeFile.Filled(Block, 1));
        var partial = _store.GetSnapshotPath("s1") + ".tmp";
        File.WriteAllBytes(partial, VolumeFile.Filled(2 * (int)MiB, 0xEE));

        await _store.CreateSnapshotAsync("v1", "s1");

        Assert.That(VolumeFile.ReadAll(_store.GetSnapshotPath("s1")), Is.EqualTo(VolumeFile.ReadAll(_store.GetVolumePath("v1"))));
        Assert.That(File.Exists(partial), Is.False);
    }

    [Test]
    public void A_cancelled_snapshot_leaves_no_file_behind()
    {
        _store.CreateVolume("v1", MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, VolumeFile.Filled(Block, 1));

        Assert.That(async () => await _store.CreateSnapshotAsync("v1", "s1", new CancellationToken(canceled: true)),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(Directory.GetFiles(Path.Combine(_directory.Path, "snapshots")), Is.Empty);
    }

    [Test]
    public async Task A_clone_is_a_writable_volume_with_the_snapshots_contents_and_size()
    {
        _store.CreateVolume("v1", 3 * MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), MiB, VolumeFile.Filled(Block, 4));
        await _store.CreateSnapshotAsync("v1", "s1");
        var snapshotBytes = VolumeFile.ReadAll(_store.GetSnapshotPath("s1"));

        await _store.CloneFromSnapshotAsync("s1", "v2");
        var clone = _store.GetVolumePath("v2");
        var cloneBytes = VolumeFile.ReadAll(clone);
        VolumeFile.Write(clone, 0, VolumeFile.Filled(Block, 8));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(cloneBytes, Is.EqualTo(snapshotBytes));
            Assert.That(Tools.Output("stat", "-c", "%a", clone), Is.EqualTo("600"));
            Assert.That(_store.GetVolumeSize("v2"), Is.EqualTo(3 * MiB));
            Assert.That(_store.ListVolumeIds(), Is.EqualTo(new[] { "v1", "v2" }));
            Assert.That(VolumeFile.ReadAll(_store.GetSnapshotPath("s1")), Is.EqualTo(snapshotBytes));
        }
    }

    [Test]
    public async Task Reverting_puts_back_the_snapshots_contents_and_size()
    {
        _store.CreateVolume("v1", MiB);
        var volume = _store.GetVolumePath("v1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(volume, MiB / 2, VolumeFile.Filled(Block, 2));
        await _store.CreateSnapshotAsync("v1", "s1");
        _store.ResizeVolume("v1", 2 * MiB);
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 5));
        VolumeFile.Write(volume, 3 * MiB / 2, VolumeFile.Filled(Block, 6));

        await _store.RevertToSnapshotAsync("v1", "s1");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(MiB));
            Assert.That(VolumeFile.ReadAll(volume), Is.EqualTo(VolumeFile.ReadAll(_store.GetSnapshotPath("s1"))));
            Assert.That(_store.GetVolumeExtents("v1"), Is.EqualTo(_store.GetSnapshotExtents("s1")));
            Assert.That(Tools.Output("stat", "-c", "%a", volume), Is.EqualTo("600"));
            Assert.That(Directory.GetFiles(Path.Combine(_directory.Path, "volumes")).Select(Path.GetFileName),
                Is.EqualTo(new[] { "v1.img" }));
        }
    }

    [Test]
    public async Task Copies_from_a_missing_snapshot_say_SnapshotNotFound_and_name_it()
    {
        _store.CreateVolume("v1", MiB);
        await _store.CreateSnapshotAsync("v1", "s1");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(async () => await _store.CloneFromSnapshotAsync("ghost", "v2"),
                Fails.With(ErrorCode.SnapshotNotFound, "snapshot 'ghost'"));
            Assert.That(async () => await _store.RevertToSnapshotAsync("v1", "ghost"),
                Fails.With(ErrorCode.SnapshotNotFound, "'ghost'"));
            Assert.That(async () => await _store.RevertToSnapshotAsync("gone", "s1"),
                Fails.With(ErrorCode.VolumeNotFound, "volume 'gone'"));
            Assert.That(() => _store.GetSnapshotExtents("ghost"), Fails.With(ErrorCode.SnapshotNotFound, "'ghost'"));
            Assert.That(() => _store.GetSnapshotAllocatedBytes("ghost"), Fails.With(ErrorCode.SnapshotNotFound, "'ghost'"));
        }
        Assert.That(_store.ListVolumeIds(), Is.EqualTo(new[] { "v1" }));
    }

    [Test]
    public async Task Deleting_a_snapshot_removes_it_and_can_be_repeated()
    {
        _store.CreateVolume("v1", MiB);
        await _store.CreateSnapshotAsync("v1", "s1");

        _store.DeleteSnapshot("s1");
        _store.DeleteSnapshot("s1");

        Assert.That(_store.SnapshotExists("s1"), Is.False);
        Assert.That(_store.ListSnapshotIds(), Is.Empty);
        Assert.That(_store.VolumeExists("v1"), Is.True);
    }

    private static bool CpCanReflink(string directory)
    {
        var source = Path.Combine(directory, "reflink-probe");
        File.WriteAllBytes(source, VolumeFile.Filled(Block, 1));
        var canReflink = Tools.Succeeds("cp", "--reflink=always", source, source + ".copy");
        File.Delete(source);
        File.Delete(source + ".copy");
        return canReflink;
    }
}
