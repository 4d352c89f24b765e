using System.Diagnostics;
using System.Text;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>Which rules a <see cref="PrivateBus"/> applies.</summary>
public enum BusPolicy
{
    /// <summary>The system bus's default-deny policy plus our packaging/dbus policy file, as on a real machine.</summary>
    SystemWithOurPolicy,

    /// <summary>Anyone may own and call anything: to see what storagepoold itself refuses.</summary>
    AllowEveryone,
}

/// <summary>
/// A private <c>dbus-daemon</c> shaped like the system bus (type system, EXTERNAL auth only, the default
/// policy of /usr/share/dbus-1/system.conf) that includes our policy file from packaging/dbus/. It
/// listens on a socket in its own temp directory that any user can reach; point storagepoold, busctl
/// and gdbus at it with <see cref="Environment"/> or <see cref="Address"/>. Stopped by PID on dispose.
/// </summary>
public sealed class PrivateBus : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly TestDirectory _directory;
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private bool _disposed;

    private PrivateBus(TestDirectory directory, Process process)
    {
        _directory = directory;
        _process = process;
    }

    /// <summary>Our policy file, as packaged.</summary>
    public static string PolicyFile => Repo.File("packaging", "dbus", "org.storagepool.StoragePool1.conf");

    public string Directory => _directory.Path;

    public string SocketPath => Path.Combine(Directory, "bus");

    /// <summary>The D-Bus address, <c>unix:path=...</c>.</summary>
    public string Address => "unix:path=" + SocketPath;

    public int Pid => _process.Id;

    /// <summary>What makes sd-bus, busctl and gdbus use this bus as the system bus.</summary>
    public IDictionary<string, string> Environment => new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = Address };

    /// <summary>dbus-daemon's own messages so far.</summary>
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

    public static async Task<PrivateBus> StartAsync(BusPolicy policy = BusPolicy.SystemWithOurPolicy, CancellationToken ct = default)
    {
        var directory = new TestDirectory("sp-bus-");
        // Any user's clients must reach the socket (tests call as nobody).
        File.SetUnixFileMode(directory.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var config = directory.File("bus.conf");
        await File.WriteAllTextAsync(config, Config(directory.File("bus"), policy), ct);

        var info = new ProcessStartInfo("dbus-daemon")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[$"--config-file={config}", "--nofork", "--nopidfile", "--print-address"])
        {
            info.ArgumentList.Add(a);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start dbus-daemon");
        var bus = new PrivateBus(directory, process);
        process.ErrorDataReceived += (_, e) => bus.Append(e.Data);
        process.BeginErrorReadLine();
        try
        {
            // dbus-daemon prints its address once it listens.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(StartTimeout);
            var address = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (address is null || !address.StartsWith(bus.Address, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"dbus-daemon did not start (printed '{address}'):\n{bus.Log}");
            }
            File.SetUnixFileMode(bus.SocketPath, (UnixFileMode)0x1FF); // 0777, as the system bus's socket
            return bus;
        }
        catch
        {
            await bus.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops dbus-daemon (by PID) and removes its directory; safe to call twice.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
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
            try
            {
                _directory.Dispose();
            }
            catch (IOException)
            {
                // the temp dir goes with the machine
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

    /// <summary>The system bus's configuration (see /usr/share/dbus-1/system.conf) on a private socket.</summary>
    private static string Config(string socket, BusPolicy policy)
    {
        var ours = policy switch
        {
            BusPolicy.SystemWithOurPolicy => $"  <include>{PolicyFile}</include>",
            _ => """
                  <policy context="default">
                    <allow own="org.storagepool.StoragePool1"/>
                    <allow send_destination="org.storagepool.StoragePool1"/>
                  </policy>
                """,
        };
        return $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <listen>unix:path={socket}</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow user="*"/>
                <deny own="*"/>
                <deny send_type="method_call"/>
                <allow send_type="signal"/>
                <allow send_requested_reply="true" send_type="method_return"/>
                <allow send_requested_reply="true" send_type="error"/>
                <allow receive_type="method_call"/>
                <allow receive_type="method_return"/>
                <allow receive_type="error"/>
                <allow receive_type="signal"/>
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
                <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
                      send_member="UpdateActivationEnvironment"/>
              </policy>
              <policy user="root">
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
              </policy>
            {ours}
            </busconfig>

            """;
    }
}
