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
public sealed class DBusCallerCheckTests() : DaemonOnPrivateBus(BusPolicy.AllowEveryone)
{
    [Test]
    public async Task A_caller_who_is_not_root_is_refused_by_the_daemon_even_when_the_bus_lets_the_call_through()
    {
        await Daemon.Client.CreatePoolAsync(new CreatePoolRequest("checked", "local"));
        await Daemon.Client.CreateVolumeAsync(new VolumeRef("checked", "v1"), 1024 * 1024);

        var (error, message) = await DBus.ErrorAsNobodyOfAsync(Root, Manager, "CreateVolume", "'checked'", "'intruder'", "uint64 4096");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));
        Assert.That(message, Does.Contain("only root").And.Contain("uid 65534"));

        (error, _) = await DBus.ErrorAsNobodyOfAsync(VolumePath("checked", "v1"), Volume, "Delete", "true", "false");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));
        (error, _) = await DBus.ErrorAsNobodyOfAsync(Root, Manager, "DeletePool", "'checked'");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PermissionDenied"));

        var volumes = await Daemon.Client.ListVolumesAsync("checked");
        Assert.That(volumes.Select(v => v.Name), Is.EqualTo(new[] { "v1" }), "nothing changed");
        Assert.That(Daemon.Log, Does.Contain("refused: only root may change the pool"));

        // Reading is for everyone, and root may change things.
        var size = await DBus.BusctlAsNobodyAsync("get-property", Service, VolumePath("checked", "v1"), Volume, "SizeBytes");
        Assert.That(size.Stdout, Is.EqualTo("t 1048576\n"), size.ToString());
        await DBus.CallAsync(Root, Manager, "CreateVolume", "sst", "checked", "v2", "4096");
        Assert.That((await Daemon.Client.ListVolumesAsync("checked")).Select(v => v.Name), Is.EquivalentTo(new[] { "v1", "v2" }));
    }
}
