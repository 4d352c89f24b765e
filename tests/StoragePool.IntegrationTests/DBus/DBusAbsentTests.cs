using System.Diagnostics;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;
using static StoragePool.IntegrationTests.DBus.BusCommands;

namespace StoragePool.IntegrationTests.DBus;

/// <summary>Without the bus, or without its name, storagepoold says so once and serves everything else.</summary>
[TestFixture]
[NonParallelizable]
public sealed class DBusAbsentTests
{
    [Test]
    public async Task Without_a_bus_the_daemon_serves_REST_and_logs_one_DBus_warning()
    {
        await using var daemon = await DaemonProcess.StartAsync(new Dictionary<string, string>
        {
            ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent",
        });

        await WaitForLogAsync(daemon, "D-Bus API disabled");
        await daemon.Client.CreateVolumeAsync(new VolumeRef("default", "v1"), 1024 * 1024);
        Assert.That((await daemon.Client.GetVolumeAsync(new VolumeRef("default", "v1"))).SizeBytes, Is.EqualTo(1024 * 1024));

        var lines = DBusLines(daemon);
        Assert.That(lines, Has.Count.EqualTo(1), daemon.Log);
        Assert.That(lines[0], Does.Contain("warn").And.Contain("cannot connect to the system bus at unix:path=/nonexistent"));
        Assert.That(await daemon.StopAsync(), Is.Zero, "it stops cleanly too");
    }

    [Test]
    public async Task A_second_daemon_on_the_same_bus_warns_that_the_name_is_taken_and_serves_REST()
    {
        await using var bus = await PrivateBus.StartAsync();
        await using var first = await DaemonProcess.StartAsync(bus.Environment);
        var dbus = new BusCommands(bus);
        await dbus.WaitForServiceAsync();

        await using var second = await DaemonProcess.StartAsync(bus.Environment);
        await WaitForLogAsync(second, "D-Bus API disabled");
        Assert.That((await second.Client.GetStatusAsync()).Pools.Select(p => p.Name), Is.EqualTo(new[] { "default" }));

        var lines = DBusLines(second);
        Assert.That(lines, Has.Count.EqualTo(1), second.Log);
        Assert.That(lines[0], Does.Contain("warn").And.Contain("is owned by another process"));
        var owner = await dbus.OkAsync("status", Service);
        Assert.That(owner, Does.Contain($"PID={first.Pid}\n"), "the first daemon keeps the name");
    }

    [Test]
    public async Task When_the_bus_goes_away_the_daemon_says_so_and_serves_REST()
    {
        await using var bus = await PrivateBus.StartAsync();
        await using var daemon = await DaemonProcess.StartAsync(bus.Environment);
        await new BusCommands(bus).WaitForServiceAsync();

        await bus.DisposeAsync();
        await WaitForLogAsync(daemon, "D-Bus connection lost");

        await daemon.Client.CreateVolumeAsync(new VolumeRef("default", "after"), 1024 * 1024);
        Assert.That((await daemon.Client.ListVolumesAsync("default")).Select(v => v.Name), Is.EqualTo(new[] { "after" }));
        Assert.That(DBusLines(daemon).Count(l => l.Contains("warn", StringComparison.Ordinal)), Is.EqualTo(1), daemon.Log);
        Assert.That(await daemon.StopAsync(), Is.Zero, "it stops cleanly too");
    }

    /// <summary>The daemon's log lines from its D-Bus component.</summary>
    private static List<string> DBusLines(DaemonProcess daemon) =>
        daemon.Log.Split('\n').Where(l => l.Contains("StoragePool.Daemon.DBus", StringComparison.Ordinal)).ToList();

    private static async Task WaitForLogAsync(DaemonProcess daemon, string text)
    {
        var clock = Stopwatch.StartNew();
        while (!daemon.Log.Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                Assert.Fail($"the daemon did not log '{text}' within 15 s:\n{daemon.Log}");
            }
            await Task.Delay(50);
        }
    }
}
