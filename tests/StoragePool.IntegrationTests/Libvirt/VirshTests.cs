using System.Security.Cryptography;
using System.Text.Json;
using System.Xml.Linq;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Libvirt;
using StoragePool.Testing;
using static StoragePool.IntegrationTests.Harness.LibvirtDaemon;

namespace StoragePool.IntegrationTests.Libvirt;

/// <summary>
/// An admin's session on stock libvirt (a real libvirtd, qemu:///system): each StoragePool pool is a libvirt dir pool
/// over the daemon's FUSE mount, and virsh's volume commands become StoragePool operations. Pool names are unique per
/// test because the pools live in the machine's one libvirtd.
/// </summary>
[NonParallelizable]
public class VirshTests
{
    private LibvirtDaemon _libvirt = null!;
    private GuestAccelerator _accelerator = null!;

    [OneTimeSetUp]
    public async Task StartLibvirt()
    {
        _libvirt = await StartAsync();
        _accelerator = await GuestAccelerator.OfThisMachineAsync();
        // the error stream, because dotnet test shows it at its default verbosity (as a warning) and Progress only at normal
        TestContext.Error.WriteLine($"VirshTests: test domains get {_accelerator}");
    }

    [OneTimeTearDown]
    public async Task StopLibvirt() => await _libvirt.DisposeAsync();

    private static async Task<(DaemonProcess Daemon, string Pool)> StartWithPoolAsync()
    {
        var daemon = await DaemonProcess.StartAsync(extraArgs: ["--no-default-pool", "--libvirt-uri", LibvirtDaemon.Uri]);
        var pool = "lv" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var store = Path.Combine(daemon.Root, "store");
        Directory.CreateDirectory(store);
        Assert.That((await daemon.RunCliAsync("store", "add", "s1", "--path", store)).ExitCode, Is.Zero);
        Assert.That((await daemon.RunCliAsync("pool", "create", pool, "--store", "s1")).ExitCode, Is.Zero);
        return (daemon, pool);
    }

    /// <summary>Deletes the pool with its volumes, and its libvirt pool even if the daemon could not (the libvirtd outlives the test).</summary>
    private static async Task RemovePoolAsync(DaemonProcess daemon, string pool)
    {
        foreach (var volume in await daemon.Client.ListVolumesAsync(pool))
        {
            await daemon.RunCliAsync("volume", "delete", $"{pool}/{volume.Name}", "--with-snapshots", "--force");
        }
        await daemon.RunCliAsync("pool", "delete", pool);
        await WaitForAsync(async () => (await Virsh("pool-info", pool)).Stderr, "failed to get pool", "the libvirt pool is undefined with the pool");
    }

    private static async Task<string> WaitForAsync(Func<Task<string>> read, string expected, string what)
    {
        var text = string.Empty;
        for (var i = 0; i < 100; i++)
        {
            text = await read();
            if (text.Contains(expected, StringComparison.Ordinal))
            {
                return text;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"{what}: '{expected}' never showed; last:\n{text}");
        return text;
    }

    private static async Task<string> PoolListAsync() => (await Virsh("pool-list", "--all")).Stdout;

    private static async Task<string> VirshOkAsync(params string[] args)
    {
        var result = await Virsh(args);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        return result.Stdout;
    }

    [Test]
    public async Task An_admin_manages_volumes_with_virsh_and_storagepool_sees_every_change()
    {
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        try
        {
            var list = await WaitForAsync(PoolListAsync, $" {pool} ", "virsh pool-list");
            Assert.That(list, Does.Match($@"{pool}\s+active\s+yes"));

            await VirshOkAsync("vol-create-as", pool, "v1", "1G");
            var v1 = await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "v1"));
            Assert.That(v1.SizeBytes, Is.EqualTo(1L << 30));

            var upload = Path.Combine(daemon.Root, "upload");
            var data = RandomNumberGenerator.GetBytes(4 << 20);
            await File.WriteAllBytesAsync(upload, data);
            await VirshOkAsync("vol-upload", "--pool", pool, "v1", upload);
            var download = Path.Combine(daemon.Root, "download");
            await VirshOkAsync("vol-download", "--pool", pool, "v1", download, "--length", $"{data.Length}");
            Assert.That(await File.ReadAllBytesAsync(download), Is.EqualTo(data), "vol-upload then vol-download round trip");

            await VirshOkAsync("vol-resize", "--pool", pool, "v1", "2G");
            Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "v1"))).SizeBytes, Is.EqualTo(2L << 30));

            var info = await VirshOkAsync("vol-info", "--pool", pool, "v1", "--bytes");
            v1 = await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "v1"));
            Assert.That(info, Does.Match($@"Allocation:\s+{v1.AllocatedBytes} bytes"), "vol-info's allocation is the volume's");

            await VirshOkAsync("vol-clone", "--pool", pool, "v1", "v2");
            var clone = Path.Combine(daemon.FuseMount, pool, "volumes", "v2");
            using (var handle = File.OpenHandle(clone))
            {
                var copied = new byte[data.Length];
                Assert.That(RandomAccess.Read(handle, copied, 0), Is.EqualTo(data.Length));
                Assert.That(copied, Is.EqualTo(data), "vol-clone copied the data");
            }
            await VirshOkAsync("vol-wipe", "--pool", pool, "v2");
            var wiped = await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "v2"));
            Assert.That((wiped.SizeBytes, wiped.AllocatedBytes), Is.EqualTo((2L << 30, 0L)), "vol-wipe left a volume of zeros, nothing allocated");
            await VirshOkAsync("vol-delete", "--pool", pool, "v2");
            Assert.That((await daemon.Client.ListVolumesAsync(pool)).Select(v => v.Name), Is.EqualTo(new[] { "v1" }));

            // made through the CLI: libvirt is refreshed by the daemon, and pool-refresh agrees
            await daemon.RunCliAsync("volume", "create", $"{pool}/v3", "8M");
            await WaitForAsync(async () => (await Virsh("vol-list", pool)).Stdout, " v3 ", "vol-list after a CLI create");
            await VirshOkAsync("pool-refresh", pool);
            Assert.That(await VirshOkAsync("vol-list", pool), Does.Contain(" v1 ").And.Contain(" v3 "));

            // an admin's pool-destroy and pool-start show in storagepool
            await VirshOkAsync("pool-destroy", pool);
            await WaitForAsync(async () => (await daemon.RunCliAsync("pool", "show", pool)).Stdout, "defined but inactive", "pool show after pool-destroy");
            await VirshOkAsync("pool-start", pool);
            await WaitForAsync(async () => (await daemon.RunCliAsync("status")).Stdout, "active", "status after pool-start");
            var json = JsonDocument.Parse((await daemon.RunCliAsync("pool", "show", pool, "--json")).Stdout).RootElement.GetProperty("libvirt");
            Assert.That(json.GetProperty("active").GetBoolean(), Is.True);
        }
        finally
        {
            await RemovePoolAsync(daemon, pool);
        }
    }

    [Test]
    public async Task The_pool_xml_that_storagepool_prints_defines_a_working_pool_on_a_libvirtd_without_it()
    {
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        try
        {
            await WaitForAsync(PoolListAsync, $" {pool} ", "virsh pool-list");
            await daemon.RunCliAsync("volume", "create", $"{pool}/disk", "16M");
            // the libvirtd forgets the pool, as a fresh one would not have it
            await VirshOkAsync("pool-destroy", pool);
            await VirshOkAsync("pool-undefine", pool);

            var xml = (await daemon.RunCliAsync("pool", "libvirt-xml", pool)).Stdout;
            Assert.That(xml, Does.Contain("<pool type=\"dir\"").And.Contain($"<path>{daemon.FuseMount}/{pool}/volumes</path>"));
            var file = Path.Combine(daemon.Root, "pool.xml");
            await File.WriteAllTextAsync(file, xml);
            await VirshOkAsync("pool-define", file);
            await VirshOkAsync("pool-start", pool);
            Assert.That(await VirshOkAsync("vol-list", pool), Does.Contain(" disk "));

            // with the daemon down, the pool's directory is gone: pool-start fails instead of writing to /
            await VirshOkAsync("pool-destroy", pool);
            await daemon.StopAsync();
            var start = await Virsh("pool-start", pool);
            Assert.That(start.ExitCode, Is.Not.Zero, start.ToString());
            await daemon.RestartAsync();
        }
        finally
        {
            await RemovePoolAsync(daemon, pool);
        }
    }

    [Test]
    public async Task The_bindings_create_upload_download_resize_and_delete_a_volume_through_libvirtd()
    {
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        try
        {
            await WaitForAsync(PoolListAsync, $" {pool} ", "virsh pool-list");
            using var connection = LibvirtConnection.Open(LibvirtDaemon.Uri);
            Assert.That(connection.IsAlive, Is.True);
            using var libvirtPool = connection.LookupPool(pool)!;
            using var volume = libvirtPool.CreateVolume("<volume><name>lib1</name><capacity unit='bytes'>8388608</capacity></volume>");
            Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "lib1"))).SizeBytes, Is.EqualTo(8L << 20));

            var data = RandomNumberGenerator.GetBytes(1 << 20);
            volume.Upload(new MemoryStream(data), offset: 1 << 20, length: data.Length);
            var back = new MemoryStream();
            Assert.That(volume.Download(back, offset: 1 << 20, length: data.Length), Is.EqualTo(data.Length));
            Assert.That(back.ToArray(), Is.EqualTo(data), "a libvirt stream carried the bytes both ways");

            volume.Resize(16L << 20);
            var info = volume.GetInfo();
            var ours = await daemon.Client.GetVolumeAsync(new VolumeRef(pool, "lib1"));
            Assert.That((info.Capacity, info.Allocation), Is.EqualTo((ours.SizeBytes, ours.AllocatedBytes)));
            Assert.That(ours.SizeBytes, Is.EqualTo(16L << 20));

            volume.Delete();
            Assert.That(await daemon.Client.ListVolumesAsync(pool), Is.Empty);
        }
        finally
        {
            await RemovePoolAsync(daemon, pool);
        }
    }

    [Test]
    public async Task After_libvirtd_restarts_the_daemon_connects_again_and_keeps_libvirt_up_to_date()
    {
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        try
        {
            await WaitForAsync(PoolListAsync, $" {pool} ", "virsh pool-list");
            await _libvirt.RestartAsync();
            await daemon.RunCliAsync("volume", "create", $"{pool}/after", "8M");
            await WaitForAsync(async () => (await Virsh("vol-list", pool)).Stdout, " after ", "vol-list after a CLI create, libvirtd restarted");
            Assert.That(daemon.Log, Does.Contain("Lost libvirt"));
            await WaitForAsync(async () => (await daemon.RunCliAsync("pool", "show", pool)).Stdout, "active, autostart", "pool show");
        }
        finally
        {
            await RemovePoolAsync(daemon, pool);
        }
    }

    [Test]
    public async Task Disk_xml_gives_a_domain_the_volume_over_nbd_or_as_a_pool_volume()
    {
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        try
        {
            await daemon.RunCliAsync("volume", "create", $"{pool}/d1", "16M");
            var nbd = (await daemon.RunCliAsync("volume", "disk-xml", $"{pool}/d1", "--target", "vdb")).Stdout;
            Assert.That(nbd, Does.Contain("protocol=\"nbd\"").And.Contain($"name=\"{pool}/d1\"").And.Contain($"socket=\"{daemon.NbdSocket}\""));
            var file = (await daemon.RunCliAsync("volume", "disk-xml", $"{pool}/d1", "--file", "--target", "vdc")).Stdout;
            Assert.That(file, Does.Contain("type=\"volume\"").And.Contain($"pool=\"{pool}\"").And.Contain("volume=\"d1\"").And.Contain("dev=\"vdc\""));
            var bad = await daemon.RunCliAsync("volume", "disk-xml", $"{pool}/d1", "--target", "eth0");
            Assert.That(bad.ExitCode, Is.Not.Zero);
            Assert.That(bad.Stderr, Does.Contain("eth0"), bad.ToString());
        }
        finally
        {
            await RemovePoolAsync(daemon, pool);
        }
    }

    [Test]
    public Task A_domain_runs_on_an_nbd_disk_and_a_pool_volume_and_takes_a_hot_plugged_disk() => RunDomainAsync(_accelerator);

    [Test]
    public Task The_same_domain_runs_under_TCG_as_where_QEMU_cannot_open_dev_kvm() =>
        RunDomainAsync(new GuestAccelerator("qemu", "TCG: chosen by the test, as on a machine where QEMU's user cannot open /dev/kvm"));

    /// <summary>
    /// A domain of type <paramref name="accelerator"/> on an NBD disk and a pool-volume disk: bytes go both ways through
    /// the guest's QEMU, and a third disk is hot-plugged and unplugged.
    /// </summary>
    private static async Task RunDomainAsync(GuestAccelerator accelerator)
    {
        TestContext.Progress.WriteLine($"{TestContext.CurrentContext.Test.Name}: {accelerator}");
        var (daemon, pool) = await StartWithPoolAsync();
        await using var _ = daemon;
        var domain = "spvm" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            // QEMU runs as libvirt-qemu: it must pass through the test's directory to the NBD socket and the FUSE mount
            File.SetUnixFileMode(daemon.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            foreach (var name in (string[])["net", "file", "plug"])
            {
                Assert.That((await daemon.RunCliAsync("volume", "create", $"{pool}/{name}", "64M")).ExitCode, Is.Zero);
            }
            await WaitForAsync(async () => (await Virsh("vol-list", pool)).Stdout, " file ", "vol-list: libvirt knows the volume the domain names");
            var nbdDisk = await CliOkAsync(daemon, "volume", "disk-xml", $"{pool}/net", "--nbd", "--target", "vdb");
            var fileDisk = await CliOkAsync(daemon, "volume", "disk-xml", $"{pool}/file", "--file", "--target", "vdc");
            var definition = Path.Combine(daemon.Root, "domain.xml");
            await File.WriteAllTextAsync(definition, DomainXml(domain, accelerator.DomainType, nbdDisk, fileDisk));
            var create = await Virsh("create", definition);
            Assert.That(create.ExitCode, Is.Zero, $"{accelerator}\n{create}");
            // libvirt runs QEMU with -accel kvm for type 'kvm' and -accel tcg for type 'qemu'
            var qemu = (await File.ReadAllTextAsync($"/run/libvirt/qemu/{domain}.pid")).Trim();
            var arguments = (await File.ReadAllTextAsync($"/proc/{qemu}/cmdline")).Split('\0');
            var accel = arguments[Array.IndexOf(arguments, "-accel") + 1];
            Assert.That(accel, Is.EqualTo(accelerator.DomainType == "kvm" ? "kvm" : "tcg"), $"QEMU's accelerator; {accelerator}");

            // the guest's QEMU writes to its NBD disk; the bytes are in the volume's file
            await GuestIoAsync(domain, "vdb", $"write -P 0x5a {1 << 20} {256 << 10}");
            AssertFileHolds(daemon, pool, "net", 1 << 20, 256 << 10, 0x5a);

            // bytes written to the volume's file are what the guest reads from its pool-volume disk
            using (var handle = File.OpenHandle(Path.Combine(daemon.FuseMount, pool, "volumes", "file"), FileMode.Open, FileAccess.ReadWrite))
            {
                RandomAccess.Write(handle, Enumerable.Repeat((byte)0xa5, 256 << 10).ToArray(), 2 << 20);
            }
            await GuestIoAsync(domain, "vdc", $"read -P 0xa5 {2 << 20} {256 << 10}");

            // what the guest writes to its pool-volume disk, qemu-io reads over NBD
            await GuestIoAsync(domain, "vdc", $"write -P 0x3c {4 << 20} {256 << 10}");
            var uri = (await CliOkAsync(daemon, "volume", "nbd-uri", $"{pool}/file")).Trim();
            var read = await Tools.RunAsync("qemu-io", "-r", "-f", "raw", "-c", $"read -P 0x3c {4 << 20} {256 << 10}", uri);
            Assert.That(read.Stdout, Does.Contain($"read {256 << 10}/{256 << 10} bytes").And.Not.Contain("verification failed"), read.ToString());

            // hot plug: a third volume over NBD joins the running domain, is in use while attached, and leaves (on the
            // SCSI bus, whose unplug needs no help from a guest OS, which this guest lacks)
            var plug = Path.Combine(daemon.Root, "plug.xml");
            await File.WriteAllTextAsync(plug, await CliOkAsync(daemon, "volume", "disk-xml", $"{pool}/plug", "--nbd", "--target", "sda"));
            await VirshOkAsync("attach-device", domain, plug, "--live");
            Assert.That(await VirshOkAsync("domblklist", domain), Does.Match($@"sda\s+{pool}/plug"));
            await GuestIoAsync(domain, "sda", $"write -P 0x77 0 {64 << 10}");
            AssertFileHolds(daemon, pool, "plug", 0, 64 << 10, 0x77);
            var busy = await daemon.RunCliAsync("volume", "delete", $"{pool}/plug");
            Assert.That(busy.ExitCode, Is.Not.Zero, busy.ToString());
            Assert.That(busy.Stderr, Does.Contain("in use"), busy.ToString());
            await VirshOkAsync("detach-device", domain, plug, "--live");
            await WaitForAsync(async () => (await daemon.RunCliAsync("volume", "delete", $"{pool}/plug")).Stdout, "deleted", "delete after detach-device");
        }
        finally
        {
            FailureLogs.ShowIfFailed(0, ("daemon", daemon.Log));
            await Virsh("destroy", domain);
            await RemovePoolAsync(daemon, pool);
        }
    }

    private static async Task<string> CliOkAsync(DaemonProcess daemon, params string[] args)
    {
        var result = await daemon.RunCliAsync(args);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        return result.Stdout;
    }

    /// <summary>A guest with no OS (the firmware finds nothing to boot and waits), of domain type <paramref name="type"/> (kvm or qemu).</summary>
    private static string DomainXml(string name, string type, params string[] disks) =>
        new XElement("domain", new XAttribute("type", type),
            new XElement("name", name),
            new XElement("memory", new XAttribute("unit", "MiB"), 64),
            new XElement("vcpu", 1),
            new XElement("os", new XElement("type", new XAttribute("arch", "x86_64"), new XAttribute("machine", "pc"), "hvm")),
            new XElement("devices", disks.Select(XElement.Parse),
                new XElement("controller", new XAttribute("type", "scsi"), new XAttribute("model", "virtio-scsi")))).ToString();

    /// <summary>
    /// Runs a qemu-io command inside the domain's QEMU on the disk the guest sees as <paramref name="target"/> (HMP
    /// <c>qemu-io -d DEVICE</c>, through the guest's device and so its permissions and cache mode). QEMU prints the result
    /// to its log; the command must have done all its bytes and, for <c>read -P</c>, found the pattern.
    /// </summary>
    private static async Task GuestIoAsync(string domain, string target, string command)
    {
        var disk = XDocument.Parse(await VirshOkAsync("dumpxml", domain)).Descendants("disk")
            .Single(d => (string?)d.Element("target")?.Attribute("dev") == target);
        var alias = disk.Element("alias")!.Attribute("name")!.Value;
        // a virtio-blk disk's block backend is on the PCI device's virtio child; a SCSI disk has its own
        var device = (string?)disk.Element("target")!.Attribute("bus") == "virtio" ? $"/machine/peripheral/{alias}/virtio-backend" : alias;
        var log = $"/var/log/libvirt/qemu/{domain}.log";
        var before = new FileInfo(log).Length;
        var result = await VirshOkAsync("qemu-monitor-command", domain, "--hmp", $"qemu-io -d {device} \"{command}\"");
        Assert.That(result.Trim(), Is.Empty, $"qemu-io {command} on {target}");
        var length = command.Split(' ')[^1];
        var printed = await WaitForAsync(async () =>
        {
            await using var file = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file.Seek(before, SeekOrigin.Begin);
            return await new StreamReader(file).ReadToEndAsync();
        }, $" {length}/{length} bytes at offset", $"the guest's qemu-io {command} on {target}");
        Assert.That(printed, Does.Not.Contain("verification failed"), $"the guest's qemu-io {command} on {target}");
    }

    private static void AssertFileHolds(DaemonProcess daemon, string pool, string volume, long offset, int length, byte value)
    {
        using var handle = File.OpenHandle(Path.Combine(daemon.FuseMount, pool, "volumes", volume));
        var bytes = new byte[length];
        Assert.That(RandomAccess.Read(handle, bytes, offset), Is.EqualTo(length));
        Assert.That(bytes.All(b => b == value), Is.True, $"{volume} holds 0x{value:x2} at {offset}, {length} bytes");
    }
}
