using System.Security.Cryptography;
using NUnit.Framework;
using StoragePool.Storage.Tests.Support;

namespace StoragePool.Storage.Tests;

/// <summary>
/// Snapshots, clones and reverts on a loop-mounted XFS with reflink, where FICLONE works: the temp directory is ext4,
/// so <see cref="FileStoreCopyTests"/> sees only the sparse copy there.
/// </summary>
public sealed class ReflinkTests
{
    private const long MiB = 1024 * 1024;
    private const int Block = VolumeFile.BlockSize;

    private LoopXfs? _xfs;
    private string _storePath = null!;
    private FileStore _store = null!;

    [OneTimeSetUp]
    public void MountXfs()
    {
        var reason = LoopXfs.WhyUnavailable();
        if (reason is not null)
        {
            Assert.Ignore($"no XFS to reflink on: {reason}");
        }
        _xfs = new LoopXfs();
    }

    [OneTimeTearDown]
    public void UnmountXfs() => _xfs?.Dispose();

    [SetUp]
    public void SetUp()
    {
        _storePath = Directory.CreateDirectory(Path.Combine(_xfs!.Path, TestContext.CurrentContext.Test.Name)).FullName;
        _store = new FileStore(_storePath);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_storePath, recursive: true);

    [Test]
    public async Task A_snapshot_on_xfs_is_a_reflink_that_keeps_the_bytes_of_the_moment_it_was_taken()
    {
        _store.CreateVolume("v1", 8 * MiB);
        var volume = _store.GetVolumePath("v1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(volume, 4 * MiB, VolumeFile.Filled(2 * (int)MiB, 2));
        var taken = Digest(VolumeFile.ReadAll(volume));
        var extents = _store.GetVolumeExtents("v1");

        var method = await _store.CreateSnapshotAsync("v1", "s1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 5));
        VolumeFile.Write(volume, 5 * MiB, VolumeFile.Filled(Block, 6));
        VolumeFile.Write(volume, 7 * MiB, VolumeFile.Filled(Block, 7));

        var snapshot = _store.GetSnapshotPath("s1");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(method, Is.EqualTo(CopyMethod.Reflink));
            Assert.That(Digest(VolumeFile.ReadAll(snapshot)), Is.EqualTo(taken));
            Assert.That(_store.GetSnapshotExtents("s1"), Is.EqualTo(extents));
            Assert.That(VolumeFile.Read(volume, 5 * MiB, Block), Is.EqualTo(VolumeFile.Filled(Block, 6)));
            Assert.That(VolumeFile.Read(volume, 7 * MiB, Block), Is.EqualTo(VolumeFile.Filled(Block, 7)));
        }
    }

    [Test]
    public async Task A_reflinked_snapshot_of_64_MiB_of_data_takes_almost_no_free_space()
    {
        const int DataBytes = 64 * (int)MiB;
        _store.CreateVolume("v1", DataBytes);
        var data = new byte[DataBytes];
        new Random(64).NextBytes(data);
        VolumeFile.Write(_store.GetVolumePath("v1"), 0, data);
        var freeBefore = _store.GetUsage().FreeBytes;

        var method = await _store.CreateSnapshotAsync("v1", "s1");
        var freeAfterReflink = _store.GetUsage().FreeBytes;
        // The same snapshot as a sparse copy, on the same file system, to show the free space does tell a copy.
        var sparse = await new FileStore(_storePath, forceSparseCopy: true).CreateSnapshotAsync("v1", "s2");
        var freeAfterSparseCopy = _store.GetUsage().FreeBytes;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(method, Is.EqualTo(CopyMethod.Reflink));
            Assert.That(freeBefore - freeAfterReflink, Is.LessThan(MiB), "free space used by the reflinked snapshot");
            Assert.That(Digest(VolumeFile.ReadAll(_store.GetSnapshotPath("s1"))), Is.EqualTo(Digest(data)));
            Assert.That(sparse, Is.EqualTo(CopyMethod.SparseCopy));
            Assert.That(freeAfterReflink - freeAfterSparseCopy, Is.GreaterThanOrEqualTo((long)DataBytes),
                "free space used by the sparse copy");
        }
    }

    [Test]
    public async Task A_clone_on_xfs_is_a_reflink_with_the_snapshots_bytes_that_is_written_without_touching_the_snapshot()
    {
        _store.CreateVolume("v1", 4 * MiB);
        VolumeFile.Write(_store.GetVolumePath("v1"), MiB, VolumeFile.Filled(2 * Block, 4));
        await _store.CreateSnapshotAsync("v1", "s1");
        var snapshot = _store.GetSnapshotPath("s1");
        var snapshotDigest = Digest(VolumeFile.ReadAll(snapshot));

        var method = await _store.CloneFromSnapshotAsync("s1", "v2");
        var clone = _store.GetVolumePath("v2");
        var cloneDigest = Digest(VolumeFile.ReadAll(clone));
        VolumeFile.Write(clone, MiB, VolumeFile.Filled(Block, 8));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(method, Is.EqualTo(CopyMethod.Reflink));
            Assert.That(cloneDigest, Is.EqualTo(snapshotDigest));
            Assert.That(_store.GetVolumeSize("v2"), Is.EqualTo(4 * MiB));
            Assert.That(VolumeFile.Read(clone, MiB, Block), Is.EqualTo(VolumeFile.Filled(Block, 8)));
            Assert.That(Digest(VolumeFile.ReadAll(snapshot)), Is.EqualTo(snapshotDigest));
        }
    }

    [Test]
    public async Task Reverting_on_xfs_is_a_reflink_that_puts_back_the_snapshots_bytes_and_size()
    {
        _store.CreateVolume("v1", 4 * MiB);
        var volume = _store.GetVolumePath("v1");
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 1));
        VolumeFile.Write(volume, 2 * MiB, VolumeFile.Filled(Block, 2));
        await _store.CreateSnapshotAsync("v1", "s1");
        var snapshot = _store.GetSnapshotPath("s1");
        var snapshotDigest = Digest(VolumeFile.ReadAll(snapshot));
        _store.ResizeVolume("v1", 8 * MiB);
        VolumeFile.Write(volume, 0, VolumeFile.Filled(Block, 5));
        VolumeFile.Write(volume, 6 * MiB, VolumeFile.Filled(Block, 6));

        var method = await _store.RevertToSnapshotAsync("v1", "s1");
        var revertedDigest = Digest(VolumeFile.ReadAll(volume));
        var revertedExtents = _store.GetVolumeExtents("v1");
        VolumeFile.Write(volume, 2 * MiB, VolumeFile.Filled(Block, 9));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(method, Is.EqualTo(CopyMethod.Reflink));
            Assert.That(_store.GetVolumeSize("v1"), Is.EqualTo(4 * MiB));
            Assert.That(revertedDigest, Is.EqualTo(snapshotDigest));
            Assert.That(revertedExtents, Is.EqualTo(_store.GetSnapshotExtents("s1")));
            Assert.That(Digest(VolumeFile.ReadAll(snapshot)), Is.EqualTo(snapshotDigest));
        }
    }

    /// <summary>Whole images are compared by SHA-256: NUnit compares byte arrays one boxed byte at a time, slowly.</summary>
    private static string Digest(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes));
}
