using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Nbd;

/// <summary>storagepoold serves its volumes over NBD to real QEMU tools; volumes in use are protected.</summary>
public class DaemonNbdTests
{
    private static readonly VolumeRef V = new("default", "v1");

    [Test]
    public async Task Nbd_uri_names_an_export_that_qemu_tools_read_and_write()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 64 * ByteSize.MiB);
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1")).Stdout.Trim();
        Assert.That(uri, Is.EqualTo($"nbd+unix:///default/v1?socket={daemon.NbdSocket}"));

        var info = await Tools.RunAsync("qemu-img", "info", "--output=json", uri);
        Assert.That(JsonDocument.Parse(info.Stdout).RootElement.GetProperty("virtual-size").GetInt64(), Is.EqualTo(64 * ByteSize.MiB), info.ToString());
        var io = await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 128k", "-c", "read -P 0x5a 1M 128k", uri);
        Assert.That(io.Stdout, Does.Contain("read 131072/131072 bytes"), io.ToString());
        Assert.That(io.Stdout, Does.Not.Contain("Pattern verification failed"));
        var map = await Tools.RunAsync("nbdinfo", "--map", uri);
        Assert.That(map.Stdout, Does.Match(@"0\s+1048576\s+3\s+hole,zero"), map.ToString());
        Assert.That(map.Stdout, Does.Match(@"1048576\s+131072\s+0\s+data"), map.ToString());
    }

    [Test]
    public async Task A_snapshot_is_exported_read_only_with_the_bytes_of_its_moment()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 16 * ByteSize.MiB);
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1")).Stdout.Trim();
        await Tools.OutputAsync("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 64k", uri);
        await daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "v1", "s1"));
        await Tools.OutputAsync("qemu-io", "-f", "raw", "-c", "write -P 0x22 0 64k", uri);

        var json = await daemon.RunCliAsync("volume", "nbd-uri", "default/v1@s1", "--json");
        Assert.That(JsonDocument.Parse(json.Stdout).RootElement.GetProperty("read_only").GetBoolean(), Is.True);
        var snapshotUri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1@s1")).Stdout.Trim();
        var read = await Tools.RunAsync("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x11 0 64k", snapshotUri);
        Assert.That(read.Stdout, Does.Contain("read 65536/65536 bytes").And.Not.Contain("verification failed"), read.ToString());
        var write = await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x33 0 4k", snapshotUri);
        Assert.That(write.Stdout + write.Stderr, Does.Contain("ermission denied").Or.Contain("read-only").Or.Contain("Read-only"), write.ToString());
        var again = await Tools.RunAsync("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x11 0 64k", snapshotUri);
        Assert.That(again.Stdout, Does.Not.Contain("verification failed"), "the snapshot is unchanged");
    }

    [Test]
    public async Task A_volume_in_use_is_not_deleted_shrunk_or_reverted_and_force_disconnects_its_client()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 16 * ByteSize.MiB);
        await daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "v1", "s1"));
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1")).Stdout.Trim();
        using var client = await HeldConnection.OpenAsync(uri);

        var delete = await daemon.RunCliAsync("volume", "delete", "default/v1", "--with-snapshots");
        Assert.That(delete.ExitCode, Is.EqualTo((int)ErrorCode.VolumeInUse), delete.ToString());
        Assert.That(delete.Stderr, Does.Contain("in use by 1 client").And.Contain("--force"));
        var shrink = await daemon.RunCliAsync("volume", "resize", "default/v1", "8M", "--allow-shrink");
        Assert.That(shrink.ExitCode, Is.EqualTo((int)ErrorCode.VolumeInUse), shrink.ToString());
        var revert = await daemon.RunCliAsync("volume", "revert", "default/v1@s1");
        Assert.That(revert.ExitCode, Is.EqualTo((int)ErrorCode.VolumeInUse), revert.ToString());
        Assert.That(shrink.Stderr + revert.Stderr, Does.Contain("disconnect them first").And.Not.Contain("--force"),
            "resize and revert have no --force to offer");
        Assert.That((await daemon.Client.GetVolumeAsync(V)).SizeBytes, Is.EqualTo(16 * ByteSize.MiB), "nothing changed");

        var grow = await daemon.RunCliAsync("volume", "resize", "default/v1", "32M");
        Assert.That(grow.ExitCode, Is.Zero, grow.ToString());
        var info = await Tools.RunAsync("qemu-img", "info", "--output=json", uri);
        Assert.That(JsonDocument.Parse(info.Stdout).RootElement.GetProperty("virtual-size").GetInt64(), Is.EqualTo(32 * ByteSize.MiB),
            "a new connection sees the grow");

        var forced = await daemon.RunCliAsync("volume", "delete", "default/v1", "--with-snapshots", "--force");
        Assert.That(forced.ExitCode, Is.Zero, forced.ToString());
        Assert.That(await client.WaitForDisconnectAsync(TimeSpan.FromSeconds(15)), Is.True, "the client was disconnected");
        Assert.That(await daemon.Client.ListVolumesAsync(null), Is.Empty);
    }

    [Test]
    public async Task Nbd_over_tcp_on_loopback_serves_the_same_export()
    {
        var port = Ports.Free();
        await using var daemon = await DaemonProcess.StartAsync(extraArgs: ["--nbd-listen", $"127.0.0.1:{port}"]);
        await daemon.Client.CreateVolumeAsync(V, 8 * ByteSize.MiB);
        var uri = (await daemon.RunCliAsync("volume", "nbd-uri", "default/v1", "--tcp")).Stdout.Trim();
        Assert.That(uri, Is.EqualTo($"nbd://127.0.0.1:{port}/default/v1"));
        var info = await Tools.RunAsync("qemu-img", "info", "--output=json", uri);
        Assert.That(JsonDocument.Parse(info.Stdout).RootElement.GetProperty("virtual-size").GetInt64(), Is.EqualTo(8 * ByteSize.MiB), info.ToString());
    }

    [Test]
    public async Task Asking_for_a_tcp_uri_of_a_daemon_without_nbd_tcp_says_how_to_get_one()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(V, 8 * ByteSize.MiB);
        var result = await daemon.RunCliAsync("volume", "nbd-uri", "default/v1", "--tcp");
        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.Unsupported), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--nbd-listen"));
        var unknown = await daemon.RunCliAsync("volume", "nbd-uri", "default/nope");
        Assert.That(unknown.ExitCode, Is.EqualTo((int)ErrorCode.VolumeNotFound), unknown.ToString());
    }

    [Test]
    public async Task Nbd_on_a_network_address_without_tls_is_refused_at_start()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.StopAsync();
        var result = await Tools.RunAsync(Repo.Daemon, daemon.CliEnvironment, "--data-dir", daemon.DataDir, "--api-socket", daemon.ApiSocket,
            "--config", daemon.ConfigFile, "--nbd-socket", daemon.NbdSocket, "--nbd-listen", "0.0.0.0:10809");
        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.InvalidArgument), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--nbd-tls-cert").And.Contain("--nbd-insecure"));
    }

    [Test]
    public async Task The_nbd_socket_belongs_to_the_group_qemu_runs_as_so_vms_can_open_their_disks()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var expected = Tools.Succeeds("getent", "group", "libvirt-qemu") ? "libvirt-qemu" : "root";
        Assert.That((await Tools.OutputAsync("stat", "-c", "%a %G", daemon.NbdSocket)).Trim(), Is.EqualTo($"660 {expected}"));

        await daemon.StopAsync();
        var result = await Tools.RunAsync(Repo.Daemon, daemon.CliEnvironment, "--data-dir", daemon.DataDir, "--api-socket", daemon.ApiSocket,
            "--config", daemon.ConfigFile, "--nbd-socket", daemon.NbdSocket, "--nbd-socket-group", "no-such-group");
        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.InvalidArgument), result.ToString());
        Assert.That(result.Stderr, Does.Contain("'no-such-group' does not exist"));

        await using var grouped = await DaemonProcess.StartAsync(extraArgs: ["--nbd-socket-group", "disk"]);
        Assert.That((await Tools.OutputAsync("stat", "-c", "%G", grouped.NbdSocket)).Trim(), Is.EqualTo("disk"));
    }
}
