using StoragePool.IntegrationTests.Harness;

namespace StoragePool.IntegrationTests.DBus;

/// <summary>
/// A real storagepoold on a private dbus-daemon shaped like the system bus, shared by a fixture's
/// tests, with both logs printed for a test that fails.
/// </summary>
public abstract class DaemonOnPrivateBus(BusPolicy policy)
{
    protected PrivateBus Bus { get; private set; } = null!;

    protected DaemonProcess Daemon { get; private set; } = null!;

    protected BusCommands DBus { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        Bus = await PrivateBus.StartAsync(policy);
        Daemon = await DaemonProcess.StartAsync(Bus.Environment);
        DBus = new BusCommands(Bus);
        await DBus.WaitForServiceAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }
        if (Bus is not null)
        {
            await Bus.DisposeAsync();
        }
    }

    [TearDown]
    public void ShowLogsOfFailures() => FailureLogs.ShowIfFailed(0, ("daemon", Daemon.Log), ("dbus-daemon", Bus.Log));
}
