using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Daemon;

/// <summary>The daemon process itself: persistence, crashes, authentication, transports, metrics, systemd.</summary>
public class DaemonTests
{
    private static readonly VolumeRef Db = new("default", "db1");

    [Test]
    public async Task A_restart_finds_every_pool_volume_and_snapshot_as_it_was()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var store = Directory.CreateDirectory(Path.Combine(daemon.Root, "fast")).FullName;
        await daemon.Client.AddStoreAsync(new AddStoreRequest("fast", store, 2.0, 10));
        await daemon.Client.CreatePoolAsync(new CreatePoolRequest("vms", "fast"));
        await daemon.Client.CreateVolumeAsync(new VolumeRef("vms", "web"), 3 * ByteSize.GiB);
        await daemon.Client.CreateVolumeAsync(Db, 10001);
        await daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "db1", "s1"));
        var before = await daemon.Client.GetStatusAsync();

        Assert.That(await daemon.StopAsync(), Is.Zero, "a clean stop exits 0");
        await daemon.RestartAsync();

        var after = await daemon.Client.GetStatusAsync();
        Assert.That(after.Pools.Select(p => (p.Name, p.Store, p.VolumeCount, p.SnapshotCount, p.ProvisionedBytes)),
            Is.EqualTo(before.Pools.Select(p => (p.Name, p.Store, p.VolumeCount, p.SnapshotCount, p.ProvisionedBytes))));
        Assert.That(after.Stores.Select(s => (s.Name, s.Path, s.OvercommitRatio, s.WatermarkPercent)),
            Is.EqualTo(before.Stores.Select(s => (s.Name, s.Path, s.OvercommitRatio, s.WatermarkPercent))));
        var volumes = await daemon.Client.ListVolumesAsync(null);
        Assert.That(volumes.Select(v => (v.Pool, v.Name, v.SizeBytes)),
            Is.EquivalentTo(new[] { ("vms", "web", 3 * ByteSize.GiB), ("default", "db1", 12288L) }));
        Assert.That((await daemon.Client.ListSnapshotsAsync(Db)).Single().Name, Is.EqualTo("s1"));
    }

    /// <summary>
    /// The daemon is killed with SIGKILL in the middle of an operation (at a named step, by
    /// STORAGEPOOL_TEST_CRASH_AT); the next start finishes or rolls back what was cut short.
    /// </summary>
    [TestCase("volume.create.data")]
    [TestCase("volume.delete.marked")]
    [TestCase("snapshot.create.data")]
    [TestCase("volume.revert.marked")]
    public async Task A_daemon_killed_mid_operation_leaves_nothing_half_made_after_restart(string step)
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(Db, ByteSize.MiB);
        if (step != "snapshot.create.data")
        {
            await daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "db1", "s0"));
        }
        await daemon.StopAsync();
        daemon.SetEnvironment("STORAGEPOOL_TEST_CRASH_AT", step);
        await daemon.RestartAsync();

        var request = step switch
        {
            "volume.create.data" => daemon.Client.CreateVolumeAsync(new VolumeRef("default", "new"), ByteSize.MiB),
            "volume.delete.marked" => daemon.Client.DeleteVolumeAsync(Db, withSnapshots: true),
            "snapshot.create.data" => daemon.Client.CreateSnapshotAsync(new SnapshotRef("default", "db1", "s1")),
            _ => daemon.Client.RevertVolumeAsync(new SnapshotRef("default", "db1", "s0")),
        };
        var e = (await Assert.CatchAsync<StoragePoolException>(async () => await request))!;
        Assert.That(e.Code, Is.AnyOf(ErrorCode.DaemonUnavailable, ErrorCode.Internal), "the connection dies with the daemon");
        Assert.That(await daemon.WaitForExitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(137), "killed by SIGKILL");

        daemon.SetEnvironment("STORAGEPOOL_TEST_CRASH_AT", null);
        await daemon.RestartAsync();
        var volumes = await daemon.Client.ListVolumesAsync(null);
        Assert.That(volumes.All(v => v.State == "ready"));
        var snapshots = volumes.Count == 0 ? [] : await daemon.Client.ListSnapshotsAsync(Db);
        var files = Directory.GetFiles(Path.Combine(daemon.DataDir, "stores", "local"), "*", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension).Order().ToList();
        Assert.That(files, Is.EqualTo(volumes.Select(v => v.Id).Concat(snapshots.Select(s => s.Id)).Order().ToList()),
            "the store holds exactly the data of the volumes and snapshots that exist");
        switch (step)
        {
            case "volume.create.data":
                Assert.That(volumes.Select(v => v.Name), Is.EqualTo(new[] { "db1" }));
                break;
            case "volume.delete.marked":
                Assert.That(volumes, Is.Empty);
                break;
            case "snapshot.create.data":
                Assert.That(snapshots, Is.Empty);
                break;
            default:
                Assert.That(volumes.Single().State, Is.EqualTo("ready"));
                break;
        }
        Assert.That(daemon.Log, Does.Contain("Recovered"), "recovery says what it did");
    }

    [Test]
    public async Task Calls_without_the_right_token_are_refused_and_change_nothing()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var wrong = StoragePoolClient.ForUnixSocket(daemon.ApiSocket, "not-the-token");
        var e = (await Assert.CatchAsync<StoragePoolException>(async () => await wrong.CreateVolumeAsync(Db, ByteSize.MiB)))!;
        Assert.That(e.Code, Is.EqualTo(ErrorCode.Unauthorized));
        using var none = StoragePoolClient.ForUnixSocket(daemon.ApiSocket, null);
        Assert.That((await Assert.CatchAsync<StoragePoolException>(async () => await none.GetMetricsAsync()))!.Code, Is.EqualTo(ErrorCode.Unauthorized));
        Assert.That(await daemon.Client.ListVolumesAsync(null), Is.Empty);
    }

    [Test]
    public async Task The_api_is_served_on_tcp_with_the_same_token_when_asked()
    {
        var port = Ports.Free();
        await using var daemon = await DaemonProcess.StartAsync(extraArgs: ["--listen", $"127.0.0.1:{port}"]);
        using var tcp = StoragePoolClient.ForUrl(new Uri($"http://127.0.0.1:{port}"), daemon.Token);
        await tcp.CreateVolumeAsync(Db, ByteSize.GiB);
        Assert.That((await daemon.Client.GetVolumeAsync(Db)).SizeBytes, Is.EqualTo(ByteSize.GiB));
        using var anonymous = new HttpClient();
        using var response = await anonymous.GetAsync(new Uri($"http://127.0.0.1:{port}/v1/status"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("\"code\": \"unauthorized\""));
    }

    [Test]
    public async Task Malformed_requests_get_a_problem_document_and_change_nothing()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var curl = await Tools.RunAsync("curl", "-s", "--unix-socket", daemon.ApiSocket, "-H", $"Authorization: Bearer {daemon.Token}",
            "-X", "POST", "-d", "{\"name\": \"x\",", "http://localhost/v1/pools/default/volumes");
        Assert.That(curl.Stdout, Does.Contain("\"code\": \"invalid_argument\"").And.Contain("not valid JSON"));
        var unknown = await Tools.RunAsync("curl", "-s", "--unix-socket", daemon.ApiSocket, "-H", $"Authorization: Bearer {daemon.Token}",
            "http://localhost/v1/nothing-here");
        Assert.That(unknown.Stdout, Does.Contain("\"code\": \"invalid_argument\"").And.Contain("no API route"));
        Assert.That(await daemon.Client.ListVolumesAsync(null), Is.Empty);
    }

    [Test]
    public async Task Metrics_report_pool_capacity_volume_counts_and_operations_in_prometheus_text()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(Db, 2 * ByteSize.GiB);
        await Assert.CatchAsync<StoragePoolException>(async () => await daemon.Client.CreateVolumeAsync(Db, ByteSize.GiB));
        var text = await daemon.Client.GetMetricsAsync();
        Assert.That(text, Does.Contain("# TYPE storagepool_pool_capacity_bytes gauge"));
        Assert.That(text, Does.Contain($"storagepool_pool_provisioned_bytes{{pool=\"default\"}} {2 * ByteSize.GiB}"));
        Assert.That(text, Does.Contain("storagepool_pool_volumes{pool=\"default\"} 1"));
        Assert.That(text, Does.Contain("storagepool_operations_total{operation=\"volume.create\",result=\"ok\"} 1"));
        Assert.That(text, Does.Contain("storagepool_operations_total{operation=\"volume.create\",result=\"already_exists\"} 1"));
        Assert.That(text, Does.Contain("storagepool_operation_duration_seconds_count{operation=\"volume.create\"} 2"));
        Assert.That(text, Does.Match("storagepool_operation_duration_seconds_bucket\\{operation=\"volume.create\",le=\"\\+Inf\"\\} 2"));
        Assert.That(text, Does.Match(@"storagepool_pool_capacity_bytes\{pool=""default""\} [1-9][0-9]*"));
    }

    [Test]
    public async Task A_client_that_stops_reading_its_nbd_replies_shows_as_stuck_requests_in_the_log_and_metrics()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.Client.CreateVolumeAsync(Db, 64 * ByteSize.MiB);
        // libnbd writes 48 MiB of data, sends 48 reads of 1 MiB, then sleeps without polling, so it never reads the replies
        // (a QEMU whose event loop is stuck looks the same): they fill the socket and wait past the daemon's 5 s threshold.
        // nbdsh is "python3 -m nbd", run by Debian's python3, which has libnbd's module (a python3 earlier on PATH may not).
        var client = Tools.RunAsync("/usr/bin/python3", "-m", "nbd", "-u", $"nbd+unix:///default/db1?socket={daemon.NbdSocket}", "-c",
            "import time\nfor i in range(48):\n    h.pwrite(b'\\x55' * (1 << 20), i << 20)\n" +
            "for i in range(48):\n    h.aio_pread(nbd.Buffer(1 << 20), i << 20)\ntime.sleep(12)");

        var counted = new Regex(@"storagepool_nbd_stuck_requests_total\{export=""default/db1""\} [1-9][0-9]*");
        var text = "";
        var waited = Stopwatch.StartNew();
        while (!counted.IsMatch(text) && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(250);
            text = await daemon.Client.GetMetricsAsync();
        }

        Assert.That(counted.IsMatch(text), Is.True, text);
        Assert.That(text, Does.Match(@"storagepool_nbd_requests_stuck [1-9][0-9]*"));
        Assert.That(text, Does.Contain("storagepool_nbd_connections 1"));
        Assert.That(daemon.Log, Does.Contain("NBD connection").And.Contain("on default/db1: NBD_CMD_READ at").And
            .Contain("the client is not reading its replies"));
        Assert.That((await client).ExitCode, Is.Zero);
    }

    [Test]
    public async Task Systemd_is_told_when_the_daemon_is_ready_and_stopping()
    {
        using var dir = new TestDirectory("sp-notify-");
        var path = dir.File("notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = path,
            ["JOURNAL_STREAM"] = "8:1234",
        });
        var messages = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!messages.ToString().Contains("READY=1", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            messages.Append(Encoding.UTF8.GetString(buffer, 0, n)).Append('\n');
        }
        Assert.That(messages.ToString(), Does.Contain("STATUS=serving on " + daemon.ApiSocket));
        await daemon.StopAsync();
        var n2 = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        Assert.That(Encoding.UTF8.GetString(buffer, 0, n2), Does.Contain("STOPPING=1"));
        Assert.That(daemon.Log, Does.Contain("<6>storagepoold[1001]"), "journald priority prefixes when JOURNAL_STREAM is set");
    }

    /// <summary>A file watch on the data directory wakes the daemon on every write to every volume (4× the CPU per NBD write).</summary>
    [Test]
    public async Task The_daemon_watches_no_files_so_volume_writes_cost_it_nothing_extra()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var inotify = Directory.GetFiles($"/proc/{daemon.Pid}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget)
            .Count(target => target == "anon_inode:inotify");
        Assert.That(inotify, Is.Zero, "inotify instances open in storagepoold");
    }

    [Test]
    public async Task A_second_daemon_on_the_same_socket_refuses_to_start()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var second = await Tools.RunAsync(Repo.Daemon, daemon.CliEnvironment, "--data-dir", Path.Combine(daemon.Root, "other"),
            "--api-socket", daemon.ApiSocket, "--config", daemon.ConfigFile);
        Assert.That(second.ExitCode, Is.EqualTo((int)ErrorCode.Conflict));
        Assert.That(second.Stderr, Does.Contain("another storagepoold is already serving"));
        Assert.That((await daemon.Client.GetStatusAsync()).Pools, Has.Count.EqualTo(1), "the first daemon still serves");
    }

    [Test]
    public async Task A_bad_config_file_stops_the_daemon_with_a_clear_error()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        await daemon.StopAsync();
        await File.WriteAllTextAsync(daemon.ConfigFile, "{ \"listen\": ");
        Assert.That(await daemon.StartExpectingExitAsync(TimeSpan.FromSeconds(20)), Is.EqualTo((int)ErrorCode.InvalidArgument));
        Assert.That(daemon.Log, Does.Contain("config file").And.Contain("is not valid"));
    }
}
