using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>
/// A real <c>storagepoold</c> process in its own temp directory (data dir, API socket, token),
/// with no D-Bus unless the test gives it one. Stopped by PID and its directory removed on dispose.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);

    private readonly TestDirectory _root;
    private readonly Dictionary<string, string> _environment;
    private readonly string[] _extraArgs;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private DaemonProcess(TestDirectory root, Dictionary<string, string> environment, string[] extraArgs, string? token)
    {
        _root = root;
        _environment = environment;
        _extraArgs = extraArgs;
        Token = token ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Client = StoragePoolClient.ForUnixSocket(ApiSocket, Token);
    }

    /// <summary>The test's temp directory; the daemon's directories are inside it.</summary>
    public string Root => _root.Path;

    public string DataDir => Path.Combine(Root, "data");

    public string ApiSocket => Path.Combine(Root, "run", "api.sock");

    public string ConfigFile => Path.Combine(Root, "storagepoold.json");

    public string NbdSocket => Path.Combine(Root, "run", "nbd.sock");

    /// <summary>Where the daemon mounts its FUSE file system: <c>FuseMount/POOL/volumes/NAME</c> is a volume's file.</summary>
    public string FuseMount => Path.Combine(Root, "fs");

    public string Token { get; }

    public StoragePoolClient Client { get; }

    public int Pid => _process?.Id ?? 0;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The environment the CLI needs to reach this daemon.</summary>
    public IDictionary<string, string> CliEnvironment => new Dictionary<string, string>
    {
        [DefaultPaths.SocketEnvironmentVariable] = ApiSocket,
        [DefaultPaths.TokenEnvironmentVariable] = Token,
    };

    /// <param name="token">the API token; daemons given the same one trust each other (transfers).</param>
    public static async Task<DaemonProcess> StartAsync(IDictionary<string, string>? environment = null, string[]? extraArgs = null,
        string? token = null, CancellationToken ct = default)
    {
        var env = new Dictionary<string, string>
        {
            // No bus unless the test brings one: never touch the machine's system bus.
            ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/storagepool-test-bus",
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        var daemon = new DaemonProcess(new TestDirectory("sp-it-"), env, extraArgs ?? [], token);
        await File.WriteAllTextAsync(daemon.ConfigFile, "{}", ct);
        try
        {
            await daemon.RestartAsync(ct);
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
        return daemon;
    }

    /// <summary>Sets (or, with null, removes) an environment variable for the next <see cref="RestartAsync"/>.</summary>
    public void SetEnvironment(string name, string? value)
    {
        if (value is null)
        {
            _environment.Remove(name);
        }
        else
        {
            _environment[name] = value;
        }
    }

    /// <summary>Starts the daemon without waiting for it to answer (for tests of failed starts).</summary>
    public async Task<int> StartExpectingExitAsync(TimeSpan timeout)
    {
        Launch();
        return await WaitForExitAsync(timeout);
    }

    /// <summary>Starts the daemon (again) on the same directories and waits until the API answers.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        Launch();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"storagepoold exited with {_process.ExitCode} at start:\n{Log}");
            }
            try
            {
                await Client.GetStatusAsync(ct);
                return;
            }
            catch (StoragePoolException e) when (e.Code == ErrorCode.DaemonUnavailable && deadline.Elapsed < ReadyTimeout)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    private void Launch()
    {
        if (_process is { HasExited: false })
        {
            throw new InvalidOperationException("the daemon is still running");
        }
        var info = new ProcessStartInfo(Repo.Daemon)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["--data-dir", DataDir, "--api-socket", ApiSocket, "--nbd-socket", NbdSocket, "--fuse-mount", FuseMount, "--config", ConfigFile,
                     // libvirt pools only where a test asks for them: they live in the one libvirtd of the machine
                     .. _extraArgs.Contains("--libvirt-uri") ? [] : (string[])["--no-libvirt"], .. _extraArgs])
        {
            info.ArgumentList.Add(a);
        }
        info.Environment[DefaultPaths.TokenEnvironmentVariable] = Token;
        foreach (var (k, v) in _environment)
        {
            info.Environment[k] = v;
        }
        _process?.Dispose();
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Runs the real <c>storagepool</c> binary against this daemon.</summary>
    public Task<ToolResult> RunCliAsync(params string[] args) => Tools.RunAsync(Repo.Cli, CliEnvironment, args);

    /// <summary>SIGTERM, then wait for a clean exit; returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return _process?.ExitCode ?? 0;
        }
        await Tools.SignalAsync(_process.Id, "TERM");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            throw new TimeoutException($"storagepoold did not stop on SIGTERM within 15 s:\n{Log}");
        }
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: a crash.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Waits for the process to exit by itself (e.g. at a crash point).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process!.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            // a killed daemon leaves its FUSE mount behind (ENOTCONN); detach it so the directory can go
            if (File.ReadAllText("/proc/self/mounts").Contains($" {FuseMount} ", StringComparison.Ordinal))
            {
                await Tools.RunAsync("umount", ["-l", FuseMount]);
            }
            _process?.Dispose();
            Client.Dispose();
            try
            {
                _root.Dispose();
            }
            catch (IOException)
            {
                // a file still in use; the temp dir goes with the machine
            }
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }
}
