using System.Text.Json;
using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Cli;

/// <summary>
/// One real daemon per fixture (started without the default store and pool), driven through the real
/// <c>storagepool</c> binary. Every test uses its own names and its own store directories.
/// </summary>
public abstract class CliTestBase
{
    private static int _counter;
    private TestDirectory? _fixtureDir;
    private string? _tempDir;

    protected DaemonProcess Daemon { get; private set; } = null!;

    /// <summary>
    /// This test's own directory, for store directories and whatever else it needs. It lives as long as the
    /// fixture's daemon, which may still look at the stores in it after the test.
    /// </summary>
    protected string TempDir => _tempDir ?? throw new InvalidOperationException("no test is running");

    [OneTimeSetUp]
    public async Task StartDaemonAsync()
    {
        _fixtureDir = new TestDirectory("sp-cli-");
        Daemon = await DaemonProcess.StartAsync(extraArgs: ["--no-default-pool"]);
    }

    [OneTimeTearDown]
    public async Task StopDaemonAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }
        _fixtureDir?.Dispose();
    }

    [SetUp]
    public void CreateTempDir() =>
        _tempDir = Directory.CreateDirectory(Path.Combine(_fixtureDir!.Path, TestContext.CurrentContext.Test.ID)).FullName;

    [TearDown]
    public void ShowDaemonLogOnFailure()
    {
        FailureLogs.ShowIfFailed(30, ("daemon", Daemon.Log));
        _tempDir = null;
    }

    /// <summary>A name no other test uses: <c>prefix7-1a2b3c</c>.</summary>
    protected static string Unique(string prefix) =>
        $"{prefix}{Interlocked.Increment(ref _counter)}-{Guid.NewGuid():N}"[..(prefix.Length + 10)];

    protected Task<ToolResult> CliAsync(params string[] args) => Daemon.RunCliAsync(args);

    /// <summary>Runs a command that must succeed and print nothing on stderr.</summary>
    protected async Task<ToolResult> OkAsync(params string[] args)
    {
        var result = await CliAsync(args);
        Assert.That(result.ExitCode, Is.Zero, $"storagepool {string.Join(' ', args)}\n{result}");
        Assert.That(result.Stderr, Is.Empty, $"storagepool {string.Join(' ', args)}\n{result}");
        return result;
    }

    /// <summary>Runs a list or show command with <c>--json</c> and parses what it printed.</summary>
    protected async Task<JsonElement> JsonAsync(params string[] args)
    {
        var result = await OkAsync([.. args, "--json"]);
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }

    /// <summary>A new directory, then a store on it.</summary>
    protected async Task<string> NewStoreAsync(params string[] options)
    {
        var name = Unique("s");
        var dir = Directory.CreateDirectory(Path.Combine(TempDir, name)).FullName;
        await OkAsync(["store", "add", name, "--path", dir, .. options]);
        return name;
    }

    /// <summary>A new pool on a new store.</summary>
    protected async Task<string> NewPoolAsync()
    {
        var pool = Unique("p");
        await OkAsync("pool", "create", pool, "--store", await NewStoreAsync());
        return pool;
    }

    /// <summary>A new volume <c>POOL/NAME</c>, in a new pool unless given one.</summary>
    protected async Task<string> NewVolumeAsync(string? pool = null, string size = "1G")
    {
        var volume = $"{pool ?? await NewPoolAsync()}/{Unique("v")}";
        await OkAsync("volume", "create", volume, size);
        return volume;
    }

    /// <summary>
    /// Every store, pool and volume the daemon has with its snapshots' count, one line each (names, paths,
    /// sizes; not the free space, which moves by itself), as the CLI's JSON shows them. Error tests compare
    /// it before and after.
    /// </summary>
    protected async Task<string> StateAsync()
    {
        var lines = new List<string>();
        foreach (var store in (await JsonAsync("store", "list")).EnumerateArray())
        {
            lines.Add($"store {Str(store, "name")} {Str(store, "path")} {store.GetProperty("overcommit_ratio")} {store.GetProperty("watermark_percent")}");
        }
        foreach (var pool in (await JsonAsync("pool", "list")).EnumerateArray())
        {
            lines.Add($"pool {Str(pool, "name")} {Str(pool, "store")}");
        }
        foreach (var volume in (await JsonAsync("volume", "list")).EnumerateArray())
        {
            lines.Add($"volume {Str(volume, "pool")}/{Str(volume, "name")} {volume.GetProperty("size_bytes")} " +
                $"{Str(volume, "state")} {volume.GetProperty("snapshot_count")} snapshots");
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }

    /// <summary>Runs a command that must fail with <paramref name="code"/>, and checks the daemon kept its state.</summary>
    protected async Task<ToolResult> FailsAsync(ErrorCode code, params string[] args)
    {
        var before = await StateAsync();
        var result = await CliAsync(args);
        AssertError(result, code, $"storagepool {string.Join(' ', args)}");
        Assert.That(await StateAsync(), Is.EqualTo(before), $"storagepool {string.Join(' ', args)} changed something although it failed");
        return result;
    }

    /// <summary>Exit code of <paramref name="code"/>, nothing on stdout, one <c>storagepool: error:</c> line on stderr.</summary>
    protected static void AssertError(ToolResult result, ErrorCode code, string what)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(result.ExitCode, Is.EqualTo(code.ExitCode()), $"{what}: exit code\n{result}");
            Assert.That(result.Stdout, Is.Empty, $"{what}: stdout\n{result}");
            Assert.That(result.Stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1), $"{what}: one line on stderr\n{result}");
            Assert.That(result.Stderr, Does.StartWith("storagepool: error: "), $"{what}: stderr\n{result}");
        }
    }

    protected static string Str(JsonElement element, string property) => element.GetProperty(property).GetString()!;

    protected static long Bytes(JsonElement element, string property)
    {
        var value = element.GetProperty(property);
        Assert.That(value.ValueKind, Is.EqualTo(JsonValueKind.Number), $"'{property}' is a number of bytes in {element}");
        return value.GetInt64();
    }

    protected static JsonElement Only(JsonElement array, string property, string value)
    {
        var matches = array.EnumerateArray().Where(e => e.GetProperty(property).GetString() == value).ToList();
        Assert.That(matches, Has.Count.EqualTo(1), $"one element with {property} '{value}' in {array}");
        return matches[0];
    }

    protected static List<string> Names(JsonElement array, string property = "name") =>
        array.EnumerateArray().Select(e => e.GetProperty(property).GetString()!).ToList();
}
