using System.Diagnostics;

namespace StoragePool.Nbd.Tests.Support;

/// <summary>What a tool run left: its exit code and trimmed output.</summary>
internal sealed record ToolResult(string Command, int ExitCode, string Output, string Error)
{
    public override string ToString() => $"{Command} exited with {ExitCode}: {Error} {Output}".Trim();
}

/// <summary>
/// Runs the NBD clients a user would (qemu-img, qemu-io, nbdinfo, nbdcopy). Every run is bounded: a tool still
/// running after the timeout is killed by its PID (with its children), and the test fails.
/// </summary>
internal static class Tool
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs the tool and returns its trimmed standard output; throws unless it exits with 0.</summary>
    public static async Task<string> RunAsync(string fileName, params string[] arguments)
    {
        var result = await ExecuteAsync(fileName, arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
        return result.Output;
    }

    public static Task<ToolResult> ExecuteAsync(string fileName, params string[] arguments) =>
        ExecuteAsync(fileName, DefaultTimeout, arguments);

    /// <summary>Runs the tool to its end without holding a thread (the server under test needs the thread pool).</summary>
    public static async Task<ToolResult> ExecuteAsync(string fileName, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var command = $"{fileName} {string.Join(' ', arguments)}";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using (var cancel = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                var pid = process.Id;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                Assert.Fail($"{command} (pid {pid}) was still running after {timeout.TotalSeconds:0} s and was killed");
            }
        }
        return new ToolResult(command, process.ExitCode, (await output).Trim(), (await error).Trim());
    }

    public static bool Exists(string fileName) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, fileName)));

    /// <summary>Fails the test, saying what to install, when a client binary is missing (CI installs them all).</summary>
    public static void Require(params string[] fileNames)
    {
        foreach (var name in fileNames)
        {
            if (!Exists(name))
            {
                Assert.Fail($"{name} is not installed; apt-get install qemu-utils libnbd-bin nbdkit");
            }
        }
    }
}
