using System.Diagnostics;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>A qemu-io session that keeps its NBD connection open until disposed (or until the server drops it).</summary>
internal sealed class HeldConnection : IDisposable
{
    private readonly Process _process;

    private HeldConnection(Process process) => _process = process;

    public static async Task<HeldConnection> OpenAsync(string uri)
    {
        var info = new ProcessStartInfo("qemu-io", ["-f", "raw", uri])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var connection = new HeldConnection(Process.Start(info)!);
        var first = await connection.RunAsync("read 0 4k", TimeSpan.FromSeconds(15));
        if (!first.Contains("read 4096/4096 bytes", StringComparison.Ordinal))
        {
            connection.Dispose();
            throw new InvalidOperationException($"qemu-io did not connect ({first}): " + await connection._process.StandardError.ReadToEndAsync());
        }
        return connection;
    }

    /// <summary>
    /// Runs one qemu-io command on the open connection and returns what it printed for it: on success its two lines
    /// (e.g. <c>wrote 4096/4096 bytes at offset 0</c> and the rate), else what came before qemu-io went quiet or exited.
    /// </summary>
    public Task<string> RunAsync(string command) => RunAsync(command, TimeSpan.FromSeconds(30));

    private async Task<string> RunAsync(string command, TimeSpan timeout)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        var lines = new List<string>();
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            while (await _process.StandardOutput.ReadLineAsync(wait.Token) is { } line)
            {
                lines.Add(line);
                if (line.Contains("ops/sec", StringComparison.Ordinal))
                {
                    break; // the last line of a command that succeeded
                }
            }
        }
        catch (OperationCanceledException)
        {
            lines.Add("(no answer: the command failed or the connection is gone)");
        }
        return string.Join('\n', lines);
    }

    /// <summary>True once a read fails because the server closed the connection.</summary>
    public async Task<bool> WaitForDisconnectAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                return true;
            }
            var result = await RunAsync("read 0 4k", TimeSpan.FromSeconds(5));
            if (!result.Contains("read 4096/4096", StringComparison.Ordinal))
            {
                return true;
            }
            await Task.Delay(200);
        }
        return false;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
        _process.Dispose();
    }
}
