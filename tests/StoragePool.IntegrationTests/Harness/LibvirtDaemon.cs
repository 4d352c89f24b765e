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
    private readonly int? _pid;

    private LibvirtDaemon(TestDirectory root, int? pid)
    {
        _root = root;
        _pid = pid;
    }

    public static async Task<LibvirtDaemon> StartAsync()
    {
        var root = new TestDirectory();
        if ((await Virsh("uri")).ExitCode == 0)
        {
            return new LibvirtDaemon(root, null);
        }
        var pidFile = Path.Combine(root.Path, "libvirtd.pid");
        var start = await Tools.RunAsync("/usr/sbin/libvirtd", "-d", "-p", pidFile);
        Assert.That(start.ExitCode, Is.Zero, start.ToString());
        var daemon = new LibvirtDaemon(root, int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture));
        for (var i = 0; i < 100 && (await Virsh("uri")).ExitCode != 0; i++)
        {
            await Task.Delay(100);
        }
        return daemon;
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
