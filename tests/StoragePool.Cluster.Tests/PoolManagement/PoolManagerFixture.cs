using StoragePool.Cluster.Control;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Model;
using StoragePool.Storage;
using StoragePool.Testing;

namespace StoragePool.Cluster.Tests;

/// <summary>A PoolManager over a real SQLite metadata file and a real file store, in a temp directory.</summary>
internal sealed class PoolManagerFixture : IAsyncDisposable
{
    private readonly TestDirectory _root;

    private PoolManagerFixture(TestDirectory root)
    {
        _root = root;
    }

    public string Root => _root.Path;

    public string StorePath => Path.Combine(Root, "store");

    public string MetadataPath => Path.Combine(Root, "metadata.db");

    /// <summary>The data directory the manager protects (it holds nothing here; stores may not be it or in it).</summary>
    public string DataDirectory => Path.Combine(Root, "data");

    public IMetadataStore Metadata { get; private set; } = null!;

    public PoolManager Manager { get; private set; } = null!;

    /// <summary>What the manager logged, over every reopen.</summary>
    public RecordingLogger<PoolManager> Logger { get; } = new();

    public string Log => Logger.ToString();

    public FileStore Store => new(StorePath);

    public static async Task<PoolManagerFixture> CreateAsync(CrashPoints? crash = null)
    {
        var root = new TestDirectory("sp-pm-");
        Directory.CreateDirectory(root.File("store"));
        var fixture = new PoolManagerFixture(root);
        await fixture.OpenAsync(crash);
        return fixture;
    }

    /// <summary>Drops the manager and metadata handle as a crash would (nothing more is written) and opens them again.</summary>
    public async Task ReopenAsync(CrashPoints? crash = null)
    {
        Manager.Dispose();
        await Metadata.DisposeAsync();
        await OpenAsync(crash);
    }

    public IReadOnlyList<string> DataFiles() =>
        Directory.GetFiles(StorePath, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(StorePath, f)).Order().ToList();

    public async ValueTask DisposeAsync()
    {
        Manager.Dispose();
        await Metadata.DisposeAsync();
        _root.Dispose();
    }

    private async Task OpenAsync(CrashPoints? crash)
    {
        Metadata = await SqliteMetadataStore.OpenAsync(MetadataPath);
        Manager = new PoolManager(Metadata, Logger, new OperationMetrics(), crash, DataDirectory);
    }
}

/// <summary>Stops an operation at one step by throwing, as a crash would stop it.</summary>
internal sealed class ThrowAt(string step) : CrashPoints
{
    public override void Reached(string stepName)
    {
        if (stepName == step)
        {
            throw new SimulatedCrashException(step);
        }
    }
}

internal sealed class SimulatedCrashException(string step) : Exception($"simulated crash at {step}");
