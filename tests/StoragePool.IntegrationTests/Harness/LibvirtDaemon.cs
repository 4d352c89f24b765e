using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>
/// The machine's libvirtd (qemu:///system), started by the test as root without systemd (<c>libvirtd -d -p PIDFILE</c>)
/// and stopped by that PID; one that was already running is used and left running.
/// </summary>
public sealed class LibvirtDaemon : IAsyncDisposable
{
    public const string Uri = "qemu:///system";

    private readonly TestDirectory _root;
    private int? _pid;

    private LibvirtDaemon(TestDirectory root, int? pid)
    {
        _root = root;
        _pid = pid;
    }

    private string PidFile => Path.Combine(_root.Path, "libvirtd.pid");

    public static async Task<LibvirtDaemon> StartAsync()
    {
        var root = new TestDirectory();
        if ((await Virsh("uri")).ExitCode == 0)
        {
            return new LibvirtDaemon(root, null);
        }
        var daemon = new LibvirtDaemon(root, null);
        var start = await Tools.RunAsync("/usr/sbin/libvirtd", "-d", "-p", daemon.PidFile);
        Assert.That(start.ExitCode, Is.Zero, start.ToString());
        daemon._pid = int.Parse(await File.ReadAllTextAsync(daemon.PidFile), System.Globalization.CultureInfo.InvariantCulture);
        await WaitUntilUpAsync();
        return daemon;
    }

    private static async Task WaitUntilUpAsync()
    {
        for (var i = 0; i < 100 && (await Virsh("uri")).ExitCode != 0; i++)
        {
            await Task.Delay(100);
        }
    }

    /// <summary>Stops and starts libvirtd, as a package upgrade would; only one this fixture started can be restarted.</summary>
    public async Task RestartAsync()
    {
        if (_pid is not { } pid)
        {
            Assert.Ignore("libvirtd was already running before the tests; they do not restart someone else's daemon");
            return;
        }
        await Tools.SignalAsync(pid, "TERM");
        for (var i = 0; i < 100 && Directory.Exists($"/proc/{pid}"); i++)
        {
            await Task.Delay(100);
        }
        var start = await Tools.RunAsync("/usr/sbin/libvirtd", "-d", "-p", PidFile);
        Assert.That(start.ExitCode, Is.Zero, start.ToString());
        _pid = int.Parse(await File.ReadAllTextAsync(PidFile), System.Globalization.CultureInfo.InvariantCulture);
        await WaitUntilUpAsync();
    }

    /// <summary>Runs <c>virsh -c qemu:///system ARGS</c>.</summary>
    public static Task<ToolResult> Virsh(params string[] args) => Tools.RunAsync("virsh", ["-c", Uri, .. args]);

    public async ValueTask DisposeAsync()
    {
        if (_pid is { } pid)
        {
            await Tools.SignalAsync(pid, "TERM");
            for (var i = 0; i < 100 && Directory.Exists($"/proc/{pid}"); i++)
            {
                await Task.Delay(100);
            }
        }
        _root.Dispose();
    }
}
