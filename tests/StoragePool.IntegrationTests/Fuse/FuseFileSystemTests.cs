using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Fuse;

/// <summary>
/// The FUSE file system of a real storagepoold, used with ordinary file tools (truncate, dd, rm, chmod, stat) and
/// real NBD clients on the same volumes, as libvirt and an admin use it.
/// </summary>
public class FuseFileSystemTests
{
    private const long MiB = ByteSize.MiB;
    private static readonly VolumeRef V = new("default", "v1");

    private static string FileOf(DaemonProcess daemon, string name) => Path.Combine(daemon.FuseMount, "default", "volumes", name);

    [Test]
    public async Task A_volume_is_a_file_that_reads_what_nbd_wrote_and_nbd_reads_what_the_file_got()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 16 * MiB);
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1")).Stdout.Trim();
        var file = FileOf(daemon, "v1");
        Assert.That(new FileInfo(file).Length, Is.EqualTo(16 * MiB));

        await Tools.OutputAsync("qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 128k", uri);
        using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.ReadWrite))
        {
            var read = new byte[128 * 1024];
            Assert.That(RandomAccess.Read(handle, read, MiB), Is.EqualTo(read.Length));
            Assert.That(read.All(b => b == 0x5a), Is.True, "the file shows what NBD wrote");
            RandomAccess.Write(handle, Enumerable.Repeat((byte)0x3c, 64 * 1024).ToArray(), 4 * MiB);
        }
        var check = await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "read -P 0x3c 4M 64k", uri);
        Assert.That(check.Stdout, Does.Contain("read 65536/65536").And.Not.Contain("verification failed"), check.ToString());

        // QEMU opens disks with cache=none: O_DIRECT on the file
        var direct = await Tools.RunAsync("qemu-io", "-f", "raw", "-t", "none", "-c", "write -P 0x77 8M 1M", "-c", "read -P 0x77 8M 1M", file);
        Assert.That(direct.Stdout, Does.Contain("read 1048576/1048576").And.Not.Contain("verification failed"), direct.ToString());
        var viaNbd = await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "read -P 0x77 8M 1M", uri);
        Assert.That(viaNbd.Stdout, Does.Not.Contain("verification failed"), viaNbd.ToString());
        var map = await Tools.RunAsync("qemu-img", "map", "--output=json", "-f", "raw", file);
        Assert.That(map.Stdout, Does.Match(@"""start"": 0, ""length"": 1048576, [^}]*""zero"": true, ""data"": false"),
            "SEEK_HOLE/SEEK_DATA show what was never written as a hole: " + map);
    }

    [Test]
    public async Task A_listing_that_a_new_volume_interrupts_shows_no_file_twice_and_misses_none_that_stayed()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        // The kernel reads a FUSE directory one page (4 KiB) per request: these 60 long names take two requests.
        var names = Enumerable.Range(0, 60).Select(i => $"m{i:d2}-{new string('x', 56)}").ToList();
        foreach (var name in names)
        {
            await daemon.Client.CreateVolumeAsync(new VolumeRef("default", name), MiB);
        }
        var seen = new List<string>();
        using (var entries = Directory.EnumerateFiles(Path.Combine(daemon.FuseMount, "default", "volumes")).GetEnumerator())
        {
            Assert.That(entries.MoveNext(), Is.True);
            seen.Add(Path.GetFileName(entries.Current));
            // between the two requests, a volume whose name sorts before all the others (as libvirt's refresh of a
            // dir pool lists it while the next volume is made, and stops the pool when a name comes twice)
            await daemon.Client.CreateVolumeAsync(new VolumeRef("default", "a-new"), MiB);
            while (entries.MoveNext())
            {
                seen.Add(Path.GetFileName(entries.Current));
            }
        }
        Assert.That(seen.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "names listed twice");
        Assert.That(names.Except(seen), Is.Empty, "names of volumes there all along that the listing missed");
    }

    [Test]
    public async Task Creating_truncating_and_removing_files_creates_resizes_and_deletes_volumes()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var file = FileOf(daemon, "v2");
        await Tools.OutputAsync("truncate", "-s", "64M", file);
        var volume = await daemon.Client.GetVolumeAsync(new VolumeRef("default", "v2"));
        Assert.That((volume.SizeBytes, volume.State), Is.EqualTo((64 * MiB, "ready")));

        await Tools.OutputAsync("truncate", "-s", "128M", file);
        Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef("default", "v2"))).SizeBytes, Is.EqualTo(128 * MiB));

        await Tools.OutputAsync("dd", "if=/dev/urandom", $"of={file}", "bs=64k", "count=1", "conv=notrunc", "status=none");
        var shrink = await Tools.RunAsync("truncate", "-s", "32M", file);
        Assert.That(shrink.ExitCode, Is.Not.Zero);
        Assert.That(shrink.Stderr, Does.Contain("Operation not permitted"), shrink.ToString());
        Assert.That(daemon.Log, Does.Contain("would lose what is past the new end"), "the log says why");
        Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef("default", "v2"))).SizeBytes, Is.EqualTo(128 * MiB), "nothing changed");
        await Tools.OutputAsync("truncate", "-s", "0", file); // how virsh vol-wipe zeroes a file: empty, then the old size
        await Tools.OutputAsync("truncate", "-s", "128M", file);
        var wiped = await daemon.Client.GetVolumeAsync(new VolumeRef("default", "v2"));
        Assert.That((wiped.SizeBytes, wiped.AllocatedBytes), Is.EqualTo((128 * MiB, 0L)));

        // cp makes a volume of the file's size
        var source = Path.Combine(daemon.Root, "source");
        await File.WriteAllBytesAsync(source, Enumerable.Range(0, 3 * 4096).Select(i => (byte)i).ToArray());
        await Tools.OutputAsync("cp", source, FileOf(daemon, "copied"));
        Assert.That(await File.ReadAllBytesAsync(FileOf(daemon, "copied")), Is.EqualTo(await File.ReadAllBytesAsync(source)));
        Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef("default", "copied"))).SizeBytes, Is.EqualTo(3 * 4096));

        Assert.That(() => File.Open(file, FileMode.CreateNew), Throws.InstanceOf<IOException>().With.Message.Contains("exists"));
        var badName = await Tools.RunAsync("touch", FileOf(daemon, "bad name"));
        Assert.That(badName.Stderr, Does.Contain("Invalid argument"), badName.ToString());
        var mkdir = await Tools.RunAsync("mkdir", FileOf(daemon, "dir"));
        Assert.That(mkdir.Stderr, Does.Contain("Operation not permitted"), mkdir.ToString());

        await Tools.OutputAsync("rm", file);
        Assert.That((await daemon.Client.ListVolumesAsync("default")).Select(v => v.Name), Is.EqualTo(new[] { "copied" }));
        Assert.That(File.Exists(file), Is.False);
    }

    [Test]
    public async Task Changes_made_through_the_cli_show_in_the_file_system_at_once()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var file = FileOf(daemon, "v1");
        Assert.That(File.Exists(file), Is.False);
        await daemon.RunCliAsync("volume", "create", "default/v1", "8M");
        Assert.That(new FileInfo(file).Length, Is.EqualTo(8 * MiB));
        await daemon.RunCliAsync("volume", "resize", "default/v1", "24M");
        Assert.That(new FileInfo(file).Length, Is.EqualTo(24 * MiB), "no stale size from the kernel's cache");
        await daemon.RunCliAsync("volume", "delete", "default/v1");
        Assert.That(File.Exists(file), Is.False);
        await daemon.RunCliAsync("volume", "create", "default/v1", "4M");
        Assert.That(new FileInfo(file).Length, Is.EqualTo(4 * MiB), "a new volume of the same name");
    }

    [Test]
    public async Task Snapshots_are_read_only_files_with_the_bytes_of_their_moment()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 4 * MiB);
        var file = FileOf(daemon, "v1");
        Overwrite(file, 0x11);
        await daemon.RunCliAsync("snapshot", "create", "default/v1@s1");
        Overwrite(file, 0x22);

        var snapshot = Path.Combine(daemon.FuseMount, "default", "snapshots", "v1@s1");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(snapshot)!).Select(Path.GetFileName), Is.EqualTo(new[] { "v1@s1" }));
        Assert.That((await File.ReadAllBytesAsync(snapshot)).All(b => b == 0x11), Is.True);
        var write = await Tools.RunAsync("dd", "if=/dev/zero", $"of={snapshot}", "bs=4k", "count=1", "conv=notrunc", "status=none");
        Assert.That(write.Stderr, Does.Contain("Read-only file system").Or.Contain("Permission denied"), write.ToString());
        var remove = await Tools.RunAsync("rm", "-f", snapshot);
        Assert.That(remove.Stderr, Does.Contain("Read-only file system"), remove.ToString());
        Assert.That((await File.ReadAllBytesAsync(snapshot)).All(b => b == 0x11), Is.True, "unchanged");
    }

    [Test]
    public async Task A_volume_in_use_is_not_removed_and_the_error_says_busy()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 4 * MiB);
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1")).Stdout.Trim();
        using (await HeldConnection.OpenAsync(uri))
        {
            var remove = await Tools.RunAsync("rm", FileOf(daemon, "v1"));
            Assert.That(remove.Stderr, Does.Contain("Device or resource busy"), remove.ToString());
        }
        using (File.OpenHandle(FileOf(daemon, "v1"), FileMode.Open, FileAccess.Read))
        {
            var delete = await daemon.RunCliAsync("volume", "delete", "default/v1");
            Assert.That(delete.ExitCode, Is.EqualTo((int)ErrorCode.VolumeInUse), delete.ToString());
        }
        Assert.That((await daemon.RunCliAsync("volume", "delete", "default/v1")).ExitCode, Is.Zero, "free once the file is closed");
    }

    [Test]
    public async Task Owner_mode_and_attributes_are_kept_across_restarts()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var created = await daemon.Client.CreateVolumeAsync(V, 4 * MiB);
        var file = FileOf(daemon, "v1");
        Assert.That((await Tools.OutputAsync("stat", "-c", "%a %u %g", file)).Trim(), Is.EqualTo("600 0 0"), "libvirt's default for a new volume");
        await Tools.OutputAsync("chown", "64055:64055", file);
        await Tools.OutputAsync("chmod", "0640", file);

        await daemon.StopAsync();
        await daemon.RestartAsync();
        Assert.That((await Tools.OutputAsync("stat", "-c", "%a %u %g", file)).Trim(), Is.EqualTo("640 64055 64055"));
        Assert.That((await Tools.OutputAsync("getfattr", "--only-values", "-n", "user.storagepool.id", file)).Trim(), Is.EqualTo(created.Volume.Id));
        Assert.That((await Tools.OutputAsync("getfattr", "--only-values", "-n", "user.storagepool.state", file)).Trim(), Is.EqualTo("ready"));
        var setxattr = await Tools.RunAsync("setfattr", "-n", "user.storagepool.id", "-v", "x", file);
        Assert.That(setxattr.ExitCode, Is.Not.Zero, "the facts are read-only");
        // no other attribute is kept: other names are unsupported, not absent, so libvirt does not try to set them
        var other = await Tools.RunAsync("getfattr", "-n", "trusted.libvirt.security.dac", file);
        Assert.That(other.Stderr, Does.Contain("Operation not supported"), other.ToString());
    }

    [Test]
    public async Task Statfs_is_the_pool_capacity_and_a_grow_past_it_is_no_space()
    {
        await using var daemon = await DaemonProcess.StartAsync(extraArgs: ["--no-default-pool"]);
        var store = Path.Combine(daemon.Root, "store");
        Directory.CreateDirectory(store);
        await daemon.RunCliAsync("store", "add", "s1", "--path", store, "--overcommit-ratio", "1");
        await daemon.RunCliAsync("pool", "create", "p1", "--store", "s1");
        var pool = await daemon.Client.GetPoolAsync("p1");

        var statfs = (await Tools.OutputAsync("stat", "-f", "-c", "%b %S", Path.Combine(daemon.FuseMount, "p1"))).Trim().Split(' ');
        Assert.That(long.Parse(statfs[0]) * long.Parse(statfs[1]), Is.EqualTo(pool.CapacityBytes / 4096 * 4096));

        var file = Path.Combine(daemon.FuseMount, "p1", "volumes", "big");
        var grow = await Tools.RunAsync("truncate", "-s", (pool.CapacityBytes * 2).ToString(System.Globalization.CultureInfo.InvariantCulture), file);
        Assert.That(grow.Stderr, Does.Contain("No space left on device"), grow.ToString());
        Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef("p1", "big"))).SizeBytes, Is.Zero, "the volume kept its size");
    }

    [Test]
    public async Task A_daemon_killed_with_its_file_system_mounted_mounts_it_again_on_restart()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 4 * MiB);
        await daemon.KillAsync();
        Assert.That(() => File.Exists(FileOf(daemon, "v1")) && new FileInfo(FileOf(daemon, "v1")).Length > 0, Is.False,
            "nothing answers while the daemon is down");
        await daemon.RestartAsync();
        Assert.That(daemon.Log, Does.Contain("stale FUSE mount"));
        Assert.That(new FileInfo(FileOf(daemon, "v1")).Length, Is.EqualTo(4 * MiB));
    }

    /// <summary>fsx-style: random writes, truncates, hole punches and reads on a volume's file, checked against a model.</summary>
    [Test]
    public async Task Random_io_on_a_volume_file_matches_a_model([Values(20261121)] int seed)
    {
        await using var daemon = await DaemonProcess.StartAsync(extraArgs: ["--fuse-allow-shrink"]);
        var file = FileOf(daemon, "fsx");
        const int Limit = 8 * (int)MiB;
        var random = new Random(seed);
        var model = new List<byte>();
        using var handle = File.OpenHandle(file, FileMode.CreateNew, FileAccess.ReadWrite);
        for (var step = 0; step < 400; step++)
        {
            var offset = random.Next(Limit - 1);
            var length = random.Next(1, Math.Min(256 * 1024, Limit - offset));
            var what = $"step {step} (seed {seed})";
            switch (random.Next(4))
            {
                case 0:
                    var data = new byte[length];
                    random.NextBytes(data);
                    RandomAccess.Write(handle, data, offset);
                    Resize(model, Math.Max(model.Count, offset + length));
                    for (var i = 0; i < length; i++)
                    {
                        model[offset + i] = data[i];
                    }
                    break;
                case 1:
                    RandomAccess.SetLength(handle, offset);
                    Resize(model, offset);
                    break;
                case 2:
                    var punch = await Tools.RunAsync("fallocate", "--punch-hole", "--offset", $"{offset}", "--length", $"{length}", file);
                    Assert.That(punch.ExitCode, Is.Zero, $"{what}: {punch}");
                    for (var i = offset; i < Math.Min(model.Count, offset + length); i++)
                    {
                        model[i] = 0;
                    }
                    break;
                default:
                    var read = new byte[length];
                    var got = RandomAccess.Read(handle, read, offset);
                    var expected = Math.Max(0, Math.Min(length, model.Count - offset));
                    Assert.That(got, Is.EqualTo(expected), what);
                    Assert.That(read.AsSpan(0, got).SequenceEqual(model.GetRange(Math.Min(offset, model.Count), got).ToArray()), Is.True, what);
                    break;
            }
            Assert.That(RandomAccess.GetLength(handle), Is.EqualTo(model.Count), what);
        }
        var whole = new byte[model.Count];
        Assert.That(RandomAccess.Read(handle, whole, 0), Is.EqualTo(model.Count));
        Assert.That(whole.AsSpan().SequenceEqual(model.ToArray()), Is.True);
    }

    /// <summary>Writes the whole file over with one byte value (no O_TRUNC: a volume that holds data does not shrink by truncation).</summary>
    private static void Overwrite(string file, byte value)
    {
        using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, Enumerable.Repeat(value, (int)RandomAccess.GetLength(handle)).ToArray(), 0);
    }

    /// <summary>Volume files are whole 4 KiB blocks: a size that is not is rounded up, with zeros.</summary>
    private static void Resize(List<byte> model, int size)
    {
        var rounded = (int)((size + VolumeSize.BlockSize - 1) / VolumeSize.BlockSize * VolumeSize.BlockSize);
        if (rounded < model.Count)
        {
            model.RemoveRange(rounded, model.Count - rounded);
        }
        else
        {
            model.AddRange(new byte[rounded - model.Count]);
        }
    }
}
