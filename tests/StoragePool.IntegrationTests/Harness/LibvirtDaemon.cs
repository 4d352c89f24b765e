using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>
/// The machine's libvirtd (qemu:///system), started by the test as root without systemd (<c>libvirtd -d -p PIDFILE</c>)
/// and stopped by that PID; one that was already running is used and left running. The same goes for virtlogd, which
/// takes the console and log of every domain.
/// </summary>
public sealed class LibvirtDaemon : IAsyncDisposable
{
    public const string Uri = "qemu:///system";

    private readonly TestDirectory _root;
    private int? _pid;
    private int? _logPid;

    private LibvirtDaemon(TestDirectory root)
    {
        _root = root;
    }

    private string PidFile => Path.Combine(_root.Path, "libvirtd.pid");

    public static async Task<LibvirtDaemon> StartAsync()
    {
        var daemon = new LibvirtDaemon(new TestDirectory());
        if ((await Tools.RunAsync("pgrep", "-x", "virtlogd")).ExitCode != 0)
        {
            daemon._logPid = await StartDaemonAsync("/usr/sbin/virtlogd", Path.Combine(daemon._root.Path, "virtlogd.pid"));
        }
        if ((await Virsh("uri")).ExitCode != 0)
        {
            daemon._pid = await StartDaemonAsync("/usr/sbin/libvirtd", daemon.PidFile);
            await WaitUntilUpAsync();
        }
        return daemon;
    }

    /// <summary>Starts <paramref name="program"/> <c>-d -p PIDFILE</c> and returns the PID it wrote.</summary>
    private static async Task<int> StartDaemonAsync(string program, string pidFile)
    {
        var start = await Tools.RunAsync(program, "-d", "-p", pidFile);
        Assert.That(start.ExitCode, Is.Zero, start.ToString());
        for (var i = 0; i < 100 && !File.Exists(pidFile); i++)
        {
            await Task.Delay(50);
        }
        return int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
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
        await StopAsync(pid);
        _pid = await StartDaemonAsync("/usr/sbin/libvirtd", PidFile);
        await WaitUntilUpAsync();
    }

    /// <summary>Runs <c>virsh -c qemu:///system ARGS</c>.</summary>
    public static Task<ToolResult> Virsh(params string[] args) => Tools.RunAsync("virsh", ["-c", Uri, .. args]);

    private static async Task StopAsync(int pid)
    {
        await Tools.SignalAsync(pid, "TERM");
        for (var i = 0; i < 100 && Directory.Exists($"/proc/{pid}"); i++)
        {
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_pid is { } pid)
        {
            await StopAsync(pid);
        }
        if (_logPid is { } logPid)
        {
            await StopAsync(logPid);
        }
        _root.Dispose();
    }
}
