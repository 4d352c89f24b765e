using StoragePool.Api;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;
using static StoragePool.IntegrationTests.DBus.BusCommands;

namespace StoragePool.IntegrationTests.DBus;

/// <summary>
/// Defence in depth: on a bus whose policy lets anyone call anything, storagepoold itself asks the bus
/// who is calling and refuses every method that changes the pool unless the caller is root.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DBusCallerCheckTests
{
    private PrivateBus _bus = null!;
    private DaemonProcess _daemon = null!;
    private BusCommands _dbus = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _bus = await PrivateBus.StartAsync(BusPolicy.AllowEveryone);
        _daemon = await DaemonProcess.StartAsync(_bus.Environment);
        _dbus = new BusCommands(_bus);
        await _dbus.WaitForServiceAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
        if (_bus is not null)
        {
            await _bus.DisposeAsync();
        }
    }

    [TearDown]
    public void ShowLogsOfFailures()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            TestContext.Out.WriteLine("--- daemon log\n" + _daemon.Log + "\n--- dbus-daemon log\n" + _bus.Log);
        }
    }

    [Test]
    public async Task A_caller_who_is_not_root_is_refused_by_the_daemon_even_when_the_bus_lets_the_call_through()
    {
        await _daemon.Client.CreatePoolAsync(new CreatePoolRequest("checked", "local"));
        await _daemon.Client.CreateVolumeAsync(new VolumeRef("checked", "v1"), 1024 * 1024);

        var (error, message) = await _dbus.ErrorAsNobodyOfAsync(Root, Manager, "CreateVolume", "'checked'", "'intruder'", "uint64 4096");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));
        Assert.That(message, Does.Contain("only root").And.Contain("uid 65534"));

        (error, _) = await _dbus.ErrorAsNobodyOfAsync(VolumePath("checked", "v1"), Volume, "Delete", "true");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));
        (error, _) = await _dbus.ErrorAsNobodyOfAsync(Root, Manager, "DeletePool", "'checked'");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));

        var volumes = await _daemon.Client.ListVolumesAsync("checked");
        Assert.That(volumes.Select(v => v.Name), Is.EqualTo(new[] { "v1" }), "nothing changed");
        Assert.That(_daemon.Log, Does.Contain("refused: only root may change the pool"));

        // Reading is for everyone, and root may change things.
        var size = await _dbus.BusctlAsNobodyAsync("get-property", Service, VolumePath("checked", "v1"), Volume, "SizeBytes");
        Assert.That(size.Stdout, Is.EqualTo("t 1048576\n"), size.ToString());
        await _dbus.CallAsync(Root, Manager, "CreateVolume", "sst", "checked", "v2", "4096");
        Assert.That((await _daemon.Client.ListVolumesAsync("checked")).Select(v => v.Name), Is.EquivalentTo(new[] { "v1", "v2" }));
    }
}
