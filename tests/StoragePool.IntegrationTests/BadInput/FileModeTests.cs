using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.BadInput;

/// <summary>
/// Every VM's disk, the metadata and the journals are the daemon's user's alone: a local user who is not root reads
/// none of them, from the stores or through the FUSE mount.
/// </summary>
public sealed class FileModeTests
{
    private const UnixFileMode Owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = Owner | UnixFileMode.UserExecute;

    [Test]
    public async Task Nobody_else_reads_a_volume_a_snapshot_or_the_metadata()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(new VolumeRef("default", "db1"), 4 * ByteSize.MiB);
        await daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "db1", "s1"));
        // the test's own directory is 0700; open it, so that only the daemon's modes stand between nobody and the files
        File.SetUnixFileMode(daemon.Root, OwnerDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        var made = Directory.GetFileSystemEntries(daemon.DataDir, "*", SearchOption.AllDirectories).Append(daemon.DataDir).ToList();
        Assert.That(made.Count(f => f.EndsWith(".img", StringComparison.Ordinal)), Is.EqualTo(2), "a volume and a snapshot");
        foreach (var path in made)
        {
            var directory = Directory.Exists(path);
            var read = await AsNobodyAsync(directory ? "ls" : "cat", path);
            Assert.That(read.ExitCode, Is.Not.Zero, $"nobody could {(directory ? "list" : "read")} {path}: {read}");
            Assert.That(read.Stderr, Does.Contain("Permission denied"), read.ToString());
        }
        var volume = Directory.GetFiles(Path.Combine(daemon.DataDir, "stores", "local", "volumes")).Single();
        var snapshot = Directory.GetFiles(Path.Combine(daemon.DataDir, "stores", "local", "snapshots")).Single();
        Assert.That(File.GetUnixFileMode(volume), Is.EqualTo(Owner));
        Assert.That(File.GetUnixFileMode(snapshot), Is.EqualTo(UnixFileMode.UserRead));
        Assert.That(File.GetUnixFileMode(daemon.DataDir), Is.EqualTo(OwnerDirectory));
        Assert.That(File.GetUnixFileMode(Path.Combine(daemon.DataDir, "metadata.db")), Is.EqualTo(Owner));

        var throughFuse = await AsNobodyAsync("cat", Path.Combine(daemon.FuseMount, "default", "volumes", "db1"));
        Assert.That(throughFuse.Stderr, Does.Contain("Permission denied"), throughFuse.ToString());
        // while QEMU's group can still reach the NBD socket through the runtime directory
        var runtime = Path.GetDirectoryName(daemon.NbdSocket)!;
        Assert.That(File.GetUnixFileMode(runtime) & UnixFileMode.OtherExecute, Is.EqualTo(UnixFileMode.OtherExecute));
    }

    [Test]
    public async Task What_an_older_build_left_readable_is_taken_back_at_start()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(new VolumeRef("default", "db1"), 4 * ByteSize.MiB);
        await daemon.StopAsync();
        var everyone = UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        var volumes = Path.Combine(daemon.DataDir, "stores", "local", "volumes");
        var volume = Directory.GetFiles(volumes).Single();
        File.SetUnixFileMode(daemon.DataDir, OwnerDirectory | everyone | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        File.SetUnixFileMode(volumes, OwnerDirectory | everyone | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        File.SetUnixFileMode(volume, Owner | everyone);
        File.SetUnixFileMode(Path.Combine(daemon.DataDir, "metadata.db"), Owner | everyone);

        await daemon.RestartAsync();
        await daemon.Client.GetVolumeAsync(new VolumeRef("default", "db1"));

        Assert.That(File.GetUnixFileMode(daemon.DataDir), Is.EqualTo(OwnerDirectory));
        Assert.That(File.GetUnixFileMode(volumes), Is.EqualTo(OwnerDirectory));
        Assert.That(File.GetUnixFileMode(volume), Is.EqualTo(Owner));
        Assert.That(File.GetUnixFileMode(Path.Combine(daemon.DataDir, "metadata.db")), Is.EqualTo(Owner));
    }

    private static Task<ToolResult> AsNobodyAsync(string command, string path) =>
        Tools.RunAsync("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", command, path);
}
