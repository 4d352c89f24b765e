using System.Xml.Linq;
using StoragePool.Core.Errors;

namespace StoragePool.Libvirt.Tests;

/// <summary>Domains on the test driver, which accepts disks it never opens (NBD sockets need not exist).</summary>
public sealed class DomainTests
{
    private static string DomainXml(string name, params string[] disks) =>
        new XElement("domain", new XAttribute("type", "test"),
            new XElement("name", name),
            new XElement("memory", new XAttribute("unit", "MiB"), 128),
            new XElement("os", new XElement("type", new XAttribute("arch", "x86_64"), "hvm")),
            new XElement("devices", disks.Select(XElement.Parse)))
            .ToString();

    private static XElement[] Disks(LibvirtDomain domain, bool inactive = false) =>
        XElement.Parse(domain.GetXml(inactive)).Element("devices")!.Elements("disk").ToArray();

    [Test]
    public void A_domain_created_with_an_nbd_disk_and_a_volume_disk_runs_with_both_and_is_gone_once_destroyed()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        var xml = DomainXml("sp-vm1",
            DiskXml.Nbd("pool1/vol1", "/run/sp/nbd.sock", "vda"),
            DiskXml.Volume("default-pool", "vm1-data", "vdb"));
        using (var domain = LibvirtDomain.CreateXml(connection, xml))
        {
            Assert.That(domain.Name, Is.EqualTo("sp-vm1"));
            var disks = Disks(domain);
            Assert.That(disks.Select(d => d.Element("target")?.Attribute("dev")?.Value), Is.EqualTo(new[] { "vda", "vdb" }));

            var nbd = disks[0];
            Assert.That(nbd.Attribute("type")?.Value, Is.EqualTo("network"));
            var source = nbd.Element("source")!;
            Assert.That(source.Attribute("protocol")?.Value, Is.EqualTo("nbd"));
            Assert.That(source.Attribute("name")?.Value, Is.EqualTo("pool1/vol1"));
            Assert.That(source.Element("host")?.Attribute("transport")?.Value, Is.EqualTo("unix"));
            Assert.That(source.Element("host")?.Attribute("socket")?.Value, Is.EqualTo("/run/sp/nbd.sock"));
            Assert.That(nbd.Element("driver")?.Attribute("io")?.Value, Is.EqualTo("native"));

            var volume = disks[1];
            Assert.That(volume.Attribute("type")?.Value, Is.EqualTo("volume"));
            Assert.That(volume.Element("source")?.Attribute("pool")?.Value, Is.EqualTo("default-pool"));
            Assert.That(volume.Element("source")?.Attribute("volume")?.Value, Is.EqualTo("vm1-data"));

            domain.Destroy();
        }
        Assert.That(LibvirtDomain.Lookup(connection, "sp-vm1"), Is.Null, "a transient domain is gone once destroyed");
    }

    [Test]
    public void Attaching_a_disk_on_the_test_driver_is_refused_as_unsupported_and_changes_nothing()
    {
        // libvirt 9.0's test driver has no virDomainAttachDeviceFlags, so what is checked here is the failure path.
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var domain = LibvirtDomain.CreateXml(connection, DomainXml("sp-vm2"));
        var error = Assert.Throws<LibvirtException>(() =>
            domain.AttachDevice(DiskXml.Nbd("p/v", "/run/sp/nbd.sock", "vdc"), DeviceChangeScope.Live))!;
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.NoSupport));
        Assert.That(error.LibvirtMessage, Does.Contain("virDomainAttachDeviceFlags"));
        Assert.That(error.Code, Is.EqualTo(ErrorCode.Unsupported));
        Assert.That(error.Message, Does.StartWith("attaching a device to domain 'sp-vm2' failed: "));
        Assert.That(Disks(domain), Is.Empty);
        domain.Destroy();
    }

    [Test]
    public void A_defined_domain_keeps_its_disk_in_its_definition_until_it_is_undefined()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        LibvirtDomain.Define(connection, DomainXml("sp-vm3", DiskXml.Nbd("p/v", "/run/sp/nbd.sock", "vdc"))).Dispose();

        using (var domain = LibvirtDomain.Lookup(connection, "sp-vm3"))
        {
            Assert.That(domain, Is.Not.Null);
            var disk = Disks(domain!, inactive: true).Single();
            Assert.That(disk.Element("target")?.Attribute("dev")?.Value, Is.EqualTo("vdc"));
            Assert.That(disk.Element("driver")?.Attribute("cache")?.Value, Is.EqualTo("none"));
            domain!.Undefine();
        }
        Assert.That(LibvirtDomain.Lookup(connection, "sp-vm3"), Is.Null);
    }

    [Test]
    public void Destroying_a_domain_that_is_not_running_raises_libvirts_error()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var domain = LibvirtDomain.Define(connection, DomainXml("sp-vm4"));
        var error = Assert.Throws<LibvirtException>(domain.Destroy)!;
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.OperationInvalid));
        Assert.That(error.LibvirtMessage, Does.Contain("not running"));
        domain.Undefine();
    }
}
