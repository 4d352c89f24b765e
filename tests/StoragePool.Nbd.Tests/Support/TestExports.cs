using System.Collections.Concurrent;
using StoragePool.Core.Errors;
using StoragePool.Storage;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Tests.Support;

/// <summary>
/// Real exports for the server under test: volumes and snapshots of a <see cref="FileStore"/> in a temp
/// directory, opened through the store's own <c>OpenVolume</c>/<c>OpenSnapshot</c> (the daemon's
/// PoolManager does the same with names from its metadata). Each export can be revoked, as a forced delete would.
/// </summary>
internal sealed class TestExports : IExportProvider, IDisposable
{
    private readonly ConcurrentDictionary<string, Export> _exports = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _openLeases = new(StringComparer.Ordinal);

    public TestExports(string storePath)
    {
        Store = new FileStore(storePath);
    }

    public FileStore Store { get; }

    /// <summary>Wraps every volume opened from now on, e.g. to inject faults or delays.</summary>
    public Func<IBlockVolume, IBlockVolume>? Wrap { get; set; }

    /// <summary>Creates a thin volume exported as <paramref name="name"/> (<c>pool/volume</c>); returns its file.</summary>
    public string AddVolume(string name, long size)
    {
        var id = Id(name);
        Store.CreateVolume(id, size);
        _exports[name] = new Export(id, Snapshot: false, new CancellationTokenSource());
        return Store.GetVolumePath(id);
    }

    /// <summary>Snapshots the volume <paramref name="volume"/> as <c>volume@snapshot</c>; returns the snapshot's file.</summary>
    public async Task<string> AddSnapshotAsync(string volume, string snapshot)
    {
        var id = Id(volume + "@" + snapshot);
        await Store.CreateSnapshotAsync(_exports[volume].Id, id);
        _exports[volume + "@" + snapshot] = new Export(id, Snapshot: true, new CancellationTokenSource());
        return Store.GetSnapshotPath(id);
    }

    public string PathOf(string name)
    {
        var export = _exports[name];
        return export.Snapshot ? Store.GetSnapshotPath(export.Id) : Store.GetVolumePath(export.Id);
    }

    /// <summary>Takes the export away: connections serving it must disconnect.</summary>
    public void Revoke(string name) => _exports[name].Revoked.Cancel();

    /// <summary>Leases handed out and not yet given back, over all exports.</summary>
    public int OpenLeases => _openLeases.Values.Sum();

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>([.. _exports.Keys.Order(StringComparer.Ordinal)]);

    public ValueTask<IExportLease> OpenAsync(string name, CancellationToken cancellationToken)
    {
        if (!_exports.TryGetValue(name, out var export))
        {
            throw new StoragePoolException(ErrorCode.VolumeNotFound, $"volume '{name}' does not exist; list exports to see what there is");
        }
        BlockVolume volume = export.Snapshot
            ? Store.OpenSnapshot(export.Id, name, export.Revoked.Token)
            : Store.OpenVolume(export.Id, name, WritePath.Empty, export.Revoked.Token);
        _openLeases.AddOrUpdate(name, 1, (_, n) => n + 1);
        var served = Wrap is { } wrap ? wrap(volume) : volume;
        return ValueTask.FromResult<IExportLease>(new Lease(served, volume, () => _openLeases.AddOrUpdate(name, 0, (_, n) => n - 1)));
    }

    public void Dispose()
    {
        foreach (var export in _exports.Values)
        {
            export.Revoked.Dispose();
        }
    }

    private static string Id(string name) => name.Replace('/', '_').Replace('@', '.');

    private sealed record Export(string Id, bool Snapshot, CancellationTokenSource Revoked);

    private sealed class Lease(IBlockVolume served, BlockVolume owned, Action closed) : IExportLease
    {
        private int _disposed;

        public IBlockVolume Volume => served;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await owned.DisposeAsync();
                closed();
            }
        }
    }
}
