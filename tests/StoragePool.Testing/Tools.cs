using System.Diagnostics;
using System.Globalization;

namespace StoragePool.Testing;

/// <summary>What a program that ran to its end left: its command line, exit code and output as printed.</summary>
public sealed record ToolResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"{Command} exited with {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    /// <summary>This result, when the program exited 0; else an exception with everything it printed.</summary>
    public ToolResult Succeeded() => ExitCode == 0 ? this : throw new InvalidOperationException(ToString());
}

/// <summary>
/// Runs the programs a user would check with (stat, mount, qemu-img, nbdinfo, busctl, our own binaries) to their
/// end, with stdin closed. Every run is bounded: a program still running after <see cref="DefaultTimeout"/> is
/// killed by its PID with its children, and the run throws <see cref="TimeoutException"/>. A program that is not
/// installed throws <see cref="System.ComponentModel.Win32Exception"/> from <see cref="Process.Start()"/>.
/// </summary>
public static class Tools
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs the program and returns its trimmed standard output; throws unless it exits with 0.</summary>
    public static string Output(string fileName, params string[] arguments) =>
        TrimmedOutputOf(Execute(fileName, arguments, environment: null, DefaultTimeout));

    /// <summary>Runs the program and says whether it exited with 0.</summary>
    public static bool Succeeds(string fileName, params string[] arguments) =>
        Execute(fileName, arguments, environment: null, DefaultTimeout).ExitCode == 0;

    /// <summary>Runs the program and returns its trimmed standard output; throws unless it exits with 0.</summary>
    public static async Task<string> OutputAsync(string fileName, params string[] arguments) =>
        TrimmedOutputOf(await RunAsync(fileName, arguments));

    /// <summary>Runs the program, whatever its exit code.</summary>
    public static Task<ToolResult> RunAsync(string fileName, params string[] arguments) =>
        RunAsync(fileName, environment: null, arguments);

    /// <summary>Runs the program with <paramref name="environment"/> added to this process's, whatever its exit code.</summary>
    public static Task<ToolResult> RunAsync(string fileName, IDictionary<string, string>? environment, params string[] arguments) =>
        ExecuteAsync(fileName, arguments, environment, DefaultTimeout);

    /// <summary>Sends a signal by PID with kill(1) (a test stops what it started, and nothing else).</summary>
    public static async Task SignalAsync(int pid, string signal)
    {
        await RunAsync("kill", $"-{signal}", pid.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Whether <paramref name="fileName"/> is a file in one of the directories on PATH.</summary>
    public static bool Exists(string fileName) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, fileName)));

    /// <summary>
    /// Blocks the calling thread until the program ends. Each pipe is read to its end on a thread of its own,
    /// so that the program never stops on a full pipe while the other one is read.
    /// </summary>
    private static ToolResult Execute(string fileName, string[] arguments, IDictionary<string, string>? environment, TimeSpan timeout)
    {
        var command = Describe(fileName, arguments);
        using var process = Start(fileName, arguments, environment);
        var stdout = new PipeReader(process.StandardOutput);
        var stderr = new PipeReader(process.StandardError);
        if (!process.WaitForExit(timeout))
        {
            var message = Kill(process, command, timeout);
            process.WaitForExit();
            throw new TimeoutException(message);
        }
        return new ToolResult(command, process.ExitCode, stdout.ReadToEnd(), stderr.ReadToEnd());
    }

    /// <summary>Waits for the program without holding a thread (a server under test may need the thread pool).</summary>
    private static async Task<ToolResult> ExecuteAsync(string fileName, string[] arguments, IDictionary<string, string>? environment,
        TimeSpan timeout)
    {
        var command = Describe(fileName, arguments);
        using var process = Start(fileName, arguments, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var deadline = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                var message = Kill(process, command, timeout);
                await process.WaitForExitAsync();
                throw new TimeoutException(message);
            }
        }
        return new ToolResult(command, process.ExitCode, await stdout, await stderr);
    }

    private static Process Start(string fileName, string[] arguments, IDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        // Nothing will answer a program that asks: it reads end-of-file rather than waiting for the timeout.
        process.StandardInput.Close();
        return process;
    }

    /// <summary>Kills the program and its children; returns what to say about it.</summary>
    private static string Kill(Process process, string command, TimeSpan timeout)
    {
        var pid = process.Id;
        process.Kill(entireProcessTree: true);
        return $"{command} (pid {pid}) was still running after {timeout.TotalSeconds:0} s and was killed";
    }

    private static string TrimmedOutputOf(ToolResult result) =>
        result.ExitCode == 0 ? result.Stdout.Trim() : throw new InvalidOperationException(result.ToString());

    private static string Describe(string fileName, string[] arguments) => $"{fileName} {string.Join(' ', arguments)}".TrimEnd();

    /// <summary>Reads one pipe to its end on a thread of its own.</summary>
    private sealed class PipeReader
    {
        private readonly Thread _thread;
        private string _text = "";

        public PipeReader(StreamReader reader)
        {
            _thread = new Thread(() => _text = reader.ReadToEnd()) { IsBackground = true, Name = "tool pipe reader" };
            _thread.Start();
        }

        /// <summary>All the pipe carried; returns once the program (and whatever inherited the pipe) has closed it.</summary>
        public string ReadToEnd()
        {
            _thread.Join();
            return _text;
        }
    }
}
