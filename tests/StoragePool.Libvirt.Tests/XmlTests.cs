using System.Xml.Linq;

namespace StoragePool.Libvirt.Tests;

public sealed class XmlTests
{
    private const string Odd = "a<b>&'\"c";

    [Test]
    public void Dir_pool_xml_has_libvirts_shape_and_escapes_names_and_paths()
    {
        Assert.That(PoolXml.Dir("p1", "/srv/p1"),
            Is.EqualTo("<pool type=\"dir\"><name>p1</name><target><path>/srv/p1</path></target></pool>"));

        var xml = PoolXml.Dir(Odd, "/srv/" + Odd);
        Assert.That(xml, Does.Contain("<name>a&lt;b&gt;&amp;'\"c</name>"));
        var pool = XElement.Parse(xml);
        Assert.That(pool.Element("name")?.Value, Is.EqualTo(Odd));
        Assert.That(pool.Element("target")?.Element("path")?.Value, Is.EqualTo("/srv/" + Odd));
    }

    [Test]
    public void Nbd_disk_xml_has_libvirts_shape_and_escapes_export_and_socket()
    {
        Assert.That(DiskXml.Nbd("pool1/vol1", "/run/storagepool/nbd.sock", "vdb"), Is.EqualTo(
            "<disk type=\"network\" device=\"disk\"><driver name=\"qemu\" type=\"raw\" cache=\"none\" io=\"native\" />" +
            "<source protocol=\"nbd\" name=\"pool1/vol1\"><host transport=\"unix\" socket=\"/run/storagepool/nbd.sock\" /></source>" +
            "<target dev=\"vdb\" bus=\"virtio\" /></disk>"));

        var disk = XElement.Parse(DiskXml.Nbd("p/" + Odd, "/run/" + Odd, "vdb"));
        Assert.That(disk.Element("source")?.Attribute("name")?.Value, Is.EqualTo("p/" + Odd));
        Assert.That(disk.Element("source")?.Element("host")?.Attribute("socket")?.Value, Is.EqualTo("/run/" + Odd));
    }

    [Test]
    public void Volume_disk_xml_has_libvirts_shape_and_escapes_pool_and_volume()
    {
        Assert.That(DiskXml.Volume("pool1", "vol1", "vdc"), Is.EqualTo(
            "<disk type=\"volume\" device=\"disk\"><driver name=\"qemu\" type=\"raw\" cache=\"none\" />" +
            "<source pool=\"pool1\" volume=\"vol1\" /><target dev=\"vdc\" bus=\"virtio\" /></disk>"));

        var disk = XElement.Parse(DiskXml.Volume(Odd, Odd + "2", "sdb"));
        Assert.That(disk.Element("source")?.Attribute("pool")?.Value, Is.EqualTo(Odd));
        Assert.That(disk.Element("source")?.Attribute("volume")?.Value, Is.EqualTo(Odd + "2"));
        Assert.That(disk.Element("target")?.Attribute("bus")?.Value, Is.EqualTo("scsi"));
    }

    [TestCase("vda", "virtio")]
    [TestCase("vdaaa", "virtio")]
    [TestCase("sdb", "scsi")]
    [TestCase("hdc", "ide")]
    [TestCase("xvdz", "xen")]
    public void A_guest_device_name_picks_its_bus(string target, string bus) =>
        Assert.That(DiskXml.BusFor(target), Is.EqualTo(bus));

    [TestCase("")]
    [TestCase("vd")]
    [TestCase("vda1")]
    [TestCase("VDA")]
    [TestCase("vdaaaa")]
    [TestCase("nvme0n1")]
    [TestCase("vdb\n")]
    [TestCase("vdb' bus='ide")]
    public void A_disk_target_that_is_not_a_guest_device_name_is_refused_with_an_example(string target)
    {
        Assert.That(() => DiskXml.Volume("p", "v", target),
            Throws.ArgumentException.With.Message.Contains($"disk target '{target}' is not a guest device name")
                .And.Message.Contains("e.g. 'vdb'")
                .And.Property(nameof(ArgumentException.ParamName)).EqualTo("target"));
        Assert.That(() => DiskXml.Nbd("p/v", "/run/nbd.sock", target), Throws.ArgumentException);
    }

    [Test]
    public void Values_xml_cannot_carry_or_libvirt_refuses_are_rejected_with_a_reason()
    {
        Assert.That(() => PoolXml.Dir("a/b", "/srv/x"), Throws.ArgumentException.With.Message.Contains("contains '/'"));
        Assert.That(() => PoolXml.Dir("", "/srv/x"), Throws.ArgumentException.With.Message.Contains("pool name is empty"));
        Assert.That(() => PoolXml.Dir("p", "srv/x"), Throws.ArgumentException.With.Message.Contains("is not absolute"));
        Assert.That(() => PoolXml.Dir("p\u0001", "/srv/x"), Throws.ArgumentException.With.Message.Contains("U+0001"));
        Assert.That(() => DiskXml.Nbd("p/v", "nbd.sock", "vda"), Throws.ArgumentException.With.Message.Contains("is not absolute"));
        Assert.That(() => DiskXml.Volume("p", "v\ud800", "vda"), Throws.ArgumentException.With.Message.Contains("U+D800"));
        // A character outside the BMP is fine.
        Assert.That(XElement.Parse(PoolXml.Dir("p\U0001F600", "/srv/x")).Element("name")?.Value, Is.EqualTo("p\U0001F600"));
    }
}
