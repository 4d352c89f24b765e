using System.Collections.Concurrent;
using StoragePool.Storage.IO;

namespace StoragePool.Cluster.Control;

/// <summary>
/// A stage of every volume's write path that counts the writes to volumes someone is watching: a transfer that
/// copies a volume nobody had open learns whether a client wrote to it meanwhile (its copy is then not one point
/// in time, and it goes again from a snapshot).
/// </summary>
internal sealed class WriteWatch : IWriteStage
{
    private readonly ConcurrentDictionary<string, Watcher[]> _watchers = new(StringComparer.Ordinal);

    public ValueTask BeforeWriteAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        // TryGetValue takes no lock (IsEmpty would take them all when empty): this runs for every write
        if (_watchers.TryGetValue(request.Volume, out var watchers))
        {
            foreach (var watcher in watchers)
            {
                watcher.Wrote();
            }
        }
        return ValueTask.CompletedTask;
    }

    public VolumeWriteWatcher Watch(string volume)
    {
        var watcher = new Watcher(this, volume);
        _watchers.AddOrUpdate(volume, [watcher], (_, old) => [.. old, watcher]);
        return watcher;
    }

    private void Remove(Watcher watcher)
    {
        while (_watchers.TryGetValue(watcher.Volume, out var old))
        {
            var rest = old.Where(w => w != watcher).ToArray();
            var done = rest.Length == 0
                ? _watchers.TryRemove(new KeyValuePair<string, Watcher[]>(watcher.Volume, old))
                : _watchers.TryUpdate(watcher.Volume, rest, old);
            if (done)
            {
                return;
            }
        }
    }

    private sealed class Watcher(WriteWatch owner, string volume) : VolumeWriteWatcher
    {
        private long _writes;

        public string Volume => volume;

        public override bool Changed => Interlocked.Read(ref _writes) > 0;

        public void Wrote() => Interlocked.Increment(ref _writes);

        public override void Dispose() => owner.Remove(this);
    }
}

/// <summary>Says whether a volume was written since the watch began (<see cref="PoolManager.WatchWrites"/>).</summary>
public abstract class VolumeWriteWatcher : IDisposable
{
    public abstract bool Changed { get; }

    public abstract void Dispose();
}
