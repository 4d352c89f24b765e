using System.Xml.Linq;

namespace StoragePool.Libvirt.Tests;

/// <summary>Volumes in the test driver's pools (resize, upload and download are not implemented there).</summary>
public sealed class VolumeTests
{
    private static string VolumeXml(string name, long capacity) =>
        new XElement("volume",
            new XElement("name", name),
            new XElement("capacity", new XAttribute("unit", "bytes"), capacity))
            .ToString();

    [Test]
    public void A_volume_is_created_looked_up_described_listed_and_deleted()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.DefinePool(PoolXml.Dir("sp-vols", "/srv/sp-vols"));
        pool.Start();

        using (var created = pool.CreateVolume(VolumeXml("disk1.raw", 64 << 20)))
        {
            Assert.That(created.Name, Is.EqualTo("disk1.raw"));
            Assert.That(created.Path, Is.EqualTo("/srv/sp-vols/disk1.raw"));
        }

        using (var volume = pool.LookupVolume("disk1.raw"))
        {
            Assert.That(volume, Is.Not.Null);
            var info = volume!.GetInfo();
            Assert.That(info.Type, Is.EqualTo(VolumeType.File));
            Assert.That(info.Capacity, Is.EqualTo(64L << 20));
            Assert.That(info.Allocation, Is.InRange(0L, 64L << 20));

            var listed = pool.ListVolumes();
            Assert.That(listed.Select(v => v.Name), Is.EqualTo(new[] { "disk1.raw" }));
            foreach (var v in listed)
            {
                v.Dispose();
            }

            volume.Delete();
        }

        Assert.That(pool.LookupVolume("disk1.raw"), Is.Null);
        Assert.That(pool.ListVolumes(), Is.Empty);
    }

    [Test]
    public void Creating_a_volume_twice_is_refused_with_libvirts_message()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.LookupPool("default-pool")!;
        pool.CreateVolume(VolumeXml("twice", 1 << 20)).Dispose();

        var error = Assert.Throws<LibvirtException>(() => pool.CreateVolume(VolumeXml("twice", 1 << 20)))!;
        // libvirtd's storage driver says VIR_ERR_STORAGE_VOL_EXIST (90); the test driver a generic failure
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.OperationFailed));
        Assert.That(error.LibvirtMessage, Is.EqualTo("operation failed: storage vol already exists"));
        Assert.That(error.Message, Does.StartWith("creating a volume in storage pool 'default-pool' failed: "));
        Assert.That(error.IsNotFound, Is.False);
    }

    [Test]
    public void Upload_on_a_driver_without_streams_fails_with_libvirts_no_support_error_and_leaves_the_volume_usable()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.LookupPool("default-pool")!;
        using var volume = pool.CreateVolume(VolumeXml("up", 1 << 20));

        var error = Assert.Throws<LibvirtException>(() => volume.Upload(new MemoryStream(new byte[4096])))!;
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.NoSupport));
        Assert.That(error.LibvirtMessage, Does.Contain("virStorageVolUpload"));
        Assert.That(error.Code, Is.EqualTo(Core.Errors.ErrorCode.Unsupported));

        var download = Assert.Throws<LibvirtException>(() => volume.Download(new MemoryStream()))!;
        Assert.That(download.LibvirtMessage, Does.Contain("virStorageVolDownload"));
        Assert.That(volume.GetInfo().Capacity, Is.EqualTo(1L << 20));
    }
}
