using System.Security.Cryptography;
using System.Text.Json;
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

    [OneTimeSetUp]
    public async Task StartLibvirt() => _libvirt = await StartAsync();

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
}
