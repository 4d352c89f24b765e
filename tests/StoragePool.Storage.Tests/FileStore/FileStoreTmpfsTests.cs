using NUnit.Framework;
using StoragePool.Core.Errors;
using StoragePool.Storage.Tests.Support;

namespace StoragePool.Storage.Tests;

/// <summary>A store on a small tmpfs, whose capacity is known and which fills up.</summary>
public sealed class FileStoreTmpfsTests
{
    private const long MiB = 1024 * 1024;

    private Tmpfs _tmpfs = null!;

    [SetUp]
    public void SetUp() => _tmpfs = new Tmpfs("size=2m");

    [TearDown]
    public void TearDown() => _tmpfs.Dispose();

    [Test]
    public void Usage_is_the_file_systems_capacity_and_free_space()
    {
        var store = new FileStore(_tmpfs.Path);
        store.CreateVolume("v1", 64 * MiB);
        VolumeFile.Write(store.GetVolumePath("v1"), 0, VolumeFile.Filled((int)MiB / 2, 1));

        var usage = store.GetUsage();

        Assert.That(usage.CapacityBytes, Is.EqualTo(2 * MiB));
        Assert.That(usage.FreeBytes, Is.EqualTo(2 * MiB - store.GetVolumeAllocatedBytes("v1")));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void A_copy_that_runs_out_of_space_says_NoSpace_and_leaves_nothing_behind(bool forceSparseCopy)
    {
        var store = new FileStore(_tmpfs.Path, forceSparseCopy);
        store.CreateVolume("v1", 64 * MiB);
        VolumeFile.Write(store.GetVolumePath("v1"), 0, VolumeFile.Filled(3 * (int)MiB / 2, 1));
        var free = store.GetUsage().FreeBytes;

        Assert.That(async () => await store.CreateSnapshotAsync("v1", "s1"),
            Fails.With(ErrorCode.NoSpace, "snapshotting volume 'v1' as 's1' failed", "No space left on device", "free space"));
        Assert.That(Directory.GetFiles(Path.Combine(_tmpfs.Path, "snapshots")), Is.Empty);
        Assert.That(store.GetUsage().FreeBytes, Is.EqualTo(free));
    }
}
