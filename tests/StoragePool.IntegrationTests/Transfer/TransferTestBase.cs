using System.Diagnostics;
using System.Text.Json;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Transfer;

/// <summary>
/// Two real daemons on loopback with the same token: the source (unix socket) and the destination (also on a TCP
/// port, the address copies go to). Data goes in and is compared through each daemon's NBD socket with qemu tools.
/// </summary>
public abstract class TransferTestBase
{
    private static int _counter;

    protected DaemonProcess Source { get; private set; } = null!;

    protected DaemonProcess Destination { get; private set; } = null!;

    protected string DestinationUrl { get; private set; } = null!;

    protected virtual IDictionary<string, string>? SourceEnvironment => null;

    protected virtual string[] SourceArguments => [];

    /// <summary>The destination's options besides where it listens.</summary>
    protected virtual string[] DestinationArguments => [];

    protected virtual string Scheme => "http";

    [OneTimeSetUp]
    public async Task StartDaemonsAsync()
    {
        var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var port = Ports.Free();
        DestinationUrl = $"{Scheme}://127.0.0.1:{port}";
        Destination = await DaemonProcess.StartAsync(
            extraArgs: ["--listen", $"127.0.0.1:{port}", "--transfer-listen", "127.0.0.1:0", .. DestinationArguments], token: token);
        Source = await DaemonProcess.StartAsync(SourceEnvironment, SourceArguments, token: token);
    }

    [TearDown]
    public void ShowLogsOfFailures() => FailureLogs.ShowIfFailed(60, ("source daemon", Source?.Log), ("destination daemon", Destination?.Log));

    [OneTimeTearDown]
    public async Task StopDaemonsAsync()
    {
        if (Source is not null)
        {
            await Source.DisposeAsync();
        }
        if (Destination is not null)
        {
            await Destination.DisposeAsync();
        }
    }

    protected static string NewName(string prefix) => $"default/{prefix}{Interlocked.Increment(ref _counter)}";

    protected static string Uri(DaemonProcess daemon, string name) => $"nbd+unix:///{name}?socket={daemon.NbdSocket}";

    /// <summary>Creates a volume on <paramref name="daemon"/> and runs qemu-io commands on it.</summary>
    protected static async Task CreateAsync(DaemonProcess daemon, string name, string size, params string[] qemuIo)
    {
        (await daemon.RunCliAsync("volume", "create", name, size)).Succeeded();
        if (qemuIo.Length > 0)
        {
            await WriteAsync(daemon, name, qemuIo);
        }
    }

    protected static async Task WriteAsync(DaemonProcess daemon, string name, params string[] qemuIo)
    {
        var args = new List<string> { "-f", "raw" };
        foreach (var command in qemuIo)
        {
            args.AddRange(["-c", command]);
        }
        args.Add(Uri(daemon, name));
        await Tools.OutputAsync("qemu-io", [.. args]);
    }

    protected async Task AssertSameAsync(string sourceName, string destinationName)
    {
        var compare = await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", Uri(Source, sourceName), Uri(Destination, destinationName));
        Assert.That(compare.ExitCode, Is.Zero, compare.ToString());
    }

    /// <summary><c>storagepool volume copy ... --json</c> on the source; the finished job.</summary>
    protected async Task<JobInfo> CopyAsync(string source, params string[] options)
    {
        var result = await Source.RunCliAsync(["volume", "copy", source, "--to", DestinationUrl, "--json", .. options]);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        return JsonSerializer.Deserialize(result.Stdout, ApiJsonContext.Default.JobInfo)!;
    }

    /// <summary><c>storagepool volume copy ... --no-wait --json</c> on the source; the job as it started.</summary>
    protected async Task<JobInfo> StartCopyAsync(string source, params string[] options)
    {
        var result = await Source.RunCliAsync(["volume", "copy", source, "--to", DestinationUrl, "--no-wait", "--json", .. options]);
        return JsonSerializer.Deserialize(result.Succeeded().Stdout, ApiJsonContext.Default.JobInfo)!;
    }

    protected static async Task<long> AllocatedAsync(DaemonProcess daemon, string name)
    {
        var result = await daemon.RunCliAsync("volume", "show", name, "--json");
        return JsonSerializer.Deserialize(result.Succeeded().Stdout, ApiJsonContext.Default.VolumeInfo)!.AllocatedBytes;
    }

    /// <summary>Polls a job until <paramref name="until"/> holds (bounded).</summary>
    protected static async Task<JobInfo> WaitForJobAsync(DaemonProcess daemon, string id, Func<JobInfo, bool> until, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var job = await daemon.Client.GetJobAsync(id);
            if (until(job))
            {
                return job;
            }
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(60)))
            {
                Assert.Fail($"job {id} did not get there in time; it is {job.State}, {job.Progress.BytesDone} of {job.Progress.BytesTotal} bytes done");
            }
            await Task.Delay(100);
        }
    }

    protected static void AssertFails(ToolResult result, ErrorCode code, string message)
    {
        Assert.That(result.ExitCode, Is.EqualTo((int)code), result.ToString());
        Assert.That(result.Stderr, Does.Contain(message), result.ToString());
    }
}
