using System.Diagnostics;
using System.Text;

namespace StoragePool.IntegrationTests.Harness;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs external programs (our binaries, busctl, qemu tools) with a time limit.</summary>
public static class Tools
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static Task<CliResult> RunAsync(string file, params string[] args) => RunAsync(file, null, args);

    public static async Task<CliResult> RunAsync(string file, IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {DefaultTimeout}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Sends a signal by PID (the test stops what it started).</summary>
    public static async Task SignalAsync(int pid, string signal)
    {
        await RunAsync("kill", $"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public static string TempDirectory(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(path);
        return path;
    }
}

/// <summary>Paths in this repository (found from the test binary's location).</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release, the same as the tests were built with.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string Daemon => Binary("StoragePool.Daemon", "storagepoold");

    public static string Cli => Binary("StoragePool.Cli", "storagepool");

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string Binary(string project, string name)
    {
        var path = Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", name);
        return System.IO.File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built; run dotnet build first", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "StoragePool.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("StoragePool.sln not found above " + AppContext.BaseDirectory);
    }
}
