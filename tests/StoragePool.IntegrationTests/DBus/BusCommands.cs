using System.Diagnostics;
using System.Text;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.DBus;

/// <summary>The real D-Bus clients a person would use (busctl, gdbus), run as root or as nobody.</summary>
public sealed class BusCommands
{
    public const string Service = "org.storagepool.StoragePool1";
    public const string Root = "/org/storagepool/StoragePool1";
    public const string Manager = "org.storagepool.StoragePool1.Manager";
    public const string Pool = "org.storagepool.StoragePool1.Pool";
    public const string Volume = "org.storagepool.StoragePool1.Volume";
    public const string ErrorPrefix = "org.storagepool.StoragePool1.Error.";

    /// <summary>uid and gid of nobody on Debian.</summary>
    private const string Nobody = "65534";

    private readonly string _address;

    public BusCommands(PrivateBus bus)
    {
        _address = bus.Address;
    }

    public static string PoolPath(string pool) => $"{Root}/pools/{pool}";

    public static string VolumePath(string pool, string volume) => $"{Root}/volumes/{pool}/{volume}";

    /// <summary><c>busctl --address=BUS ARGS</c> as root.</summary>
    public Task<ToolResult> BusctlAsync(params string[] args) => Tools.RunAsync("busctl", [$"--address={_address}", .. args]);

    /// <summary><c>busctl</c> as uid/gid 65534 (nobody), without supplementary groups.</summary>
    public Task<ToolResult> BusctlAsNobodyAsync(params string[] args) =>
        Tools.RunAsync("setpriv", [$"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "busctl", $"--address={_address}", .. args]);

    /// <summary>busctl that must succeed; returns its output.</summary>
    public async Task<string> OkAsync(params string[] args)
    {
        var result = await BusctlAsync(args);
        Assert.That(result.ExitCode, Is.Zero, $"busctl {string.Join(' ', args)}\n{result}");
        return result.Stdout;
    }

    /// <summary>Calls a method with <c>busctl call</c>; must succeed.</summary>
    public Task<string> CallAsync(string path, string @interface, string method, params string[] signatureAndArgs) =>
        OkAsync(["call", Service, path, @interface, method, .. signatureAndArgs]);

    /// <summary>
    /// Calls a method with <c>gdbus</c>, which prints the D-Bus error name of a failure
    /// (<c>GDBus.Error:NAME: MESSAGE</c>). Arguments are GVariant text (<c>"uint64 4096"</c>, <c>"'name'"</c>).
    /// </summary>
    public Task<ToolResult> GdbusCallAsync(string path, string @interface, string method, params string[] args) =>
        Tools.RunAsync("gdbus", Gdbus(path, @interface, method, args));

    /// <summary>A gdbus call that must fail; returns its error name and message.</summary>
    public Task<(string Name, string Message)> ErrorOfAsync(string path, string @interface, string method, params string[] args) =>
        ErrorOfAsync(Tools.RunAsync("gdbus", Gdbus(path, @interface, method, args)), method);

    /// <summary>A gdbus call as nobody that must fail; returns its error name and message.</summary>
    public Task<(string Name, string Message)> ErrorAsNobodyOfAsync(string path, string @interface, string method, params string[] args) =>
        ErrorOfAsync(Tools.RunAsync("setpriv", [$"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "gdbus", .. Gdbus(path, @interface, method, args)]), method);

    /// <summary>Waits (bounded) until the daemon owns <see cref="Service"/> on the bus.</summary>
    public async Task WaitForServiceAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var result = await BusctlAsync("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s", Service);
            if (result.Stdout.Trim() == "b true")
            {
                return;
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                Assert.Fail($"{Service} did not appear on the bus within 15 s\n{result}");
            }
            await Task.Delay(100);
        }
    }

    private string[] Gdbus(string path, string @interface, string method, string[] args) =>
        ["call", "--address", _address, "--dest", Service, "--object-path", path, "--method", $"{@interface}.{method}", .. args];

    private static async Task<(string Name, string Message)> ErrorOfAsync(Task<ToolResult> call, string method)
    {
        var result = await call;
        Assert.That(result.ExitCode, Is.Not.Zero, $"{method} should have failed\n{result}");
        const string marker = "GDBus.Error:";
        var text = result.Stderr.Trim();
        var at = text.IndexOf(marker, StringComparison.Ordinal);
        Assert.That(at, Is.Not.Negative, result.ToString());
        var rest = text[(at + marker.Length)..];
        var colon = rest.IndexOf(": ", StringComparison.Ordinal);
        return colon < 0 ? (rest, string.Empty) : (rest[..colon], rest[(colon + 2)..]);
    }

    /// <summary>The value part of <c>busctl get-property</c>'s output: <c>t 4096</c> gives <c>4096</c>, <c>s "x"</c> gives <c>"x"</c>.</summary>
    public async Task<string> PropertyAsync(string path, string @interface, string property)
    {
        var output = (await OkAsync("get-property", Service, path, @interface, property)).Trim();
        return output[(output.IndexOf(' ', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>Starts <c>busctl monitor</c> on the service's signals; ready when it returns.</summary>
    public async Task<BusMonitor> MonitorAsync()
    {
        var monitor = new BusMonitor(_address);
        try
        {
            await monitor.WaitForAsync(m => m.Stderr.Contains("Monitoring bus message stream", StringComparison.Ordinal),
                TimeSpan.FromSeconds(15), "busctl monitor to start");
            return monitor;
        }
        catch
        {
            await monitor.DisposeAsync();
            throw;
        }
    }
}

/// <summary>A <c>busctl monitor</c> running in the background, stopped by PID on dispose.</summary>
public sealed class BusMonitor : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public BusMonitor(string address)
    {
        var info = new ProcessStartInfo("busctl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[$"--address={address}", "monitor", "--match", $"type='signal',sender='{BusCommands.Service}'"])
        {
            info.ArgumentList.Add(a);
        }
        _process = Process.Start(info) ?? throw new InvalidOperationException("cannot start busctl monitor");
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>
    /// The signals seen so far, as <c>Member path pool name...</c> lines, e.g.
    /// <c>VolumeAdded /org/storagepool/StoragePool1/volumes/p/v p v</c>.
    /// </summary>
    public IReadOnlyList<string> Signals
    {
        get
        {
            var signals = new List<string>();
            StringBuilder? current = null;
            foreach (var raw in Stdout.Split('\n'))
            {
                var line = raw.Trim();
                var member = line.IndexOf("Member=", StringComparison.Ordinal);
                if (member >= 0)
                {
                    if (current is not null)
                    {
                        signals.Add(current.ToString());
                    }
                    current = new StringBuilder(line[(member + "Member=".Length)..].Split(' ')[0]);
                }
                else if (current is not null && (line.StartsWith("OBJECT_PATH ", StringComparison.Ordinal) || line.StartsWith("STRING ", StringComparison.Ordinal)))
                {
                    current.Append(' ').Append(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..].TrimEnd(';').Trim('"'));
                }
            }
            if (current is not null)
            {
                signals.Add(current.ToString());
            }
            return signals;
        }
    }

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds.</summary>
    public async Task WaitForAsync(Func<BusMonitor, bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition(this))
        {
            if (clock.Elapsed > timeout || _process.HasExited)
            {
                Assert.Fail($"timed out waiting for {what}\n--- monitor stdout\n{Stdout}\n--- monitor stderr\n{Stderr}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Waits (bounded) until a signal line equal to <paramref name="signal"/> arrives.</summary>
    public Task WaitForSignalAsync(string signal) =>
        WaitForAsync(m => m.Signals.Contains(signal), TimeSpan.FromSeconds(15), $"signal '{signal}'");

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is not null)
        {
            lock (sb)
            {
                sb.AppendLine(line);
            }
        }
    }
}
