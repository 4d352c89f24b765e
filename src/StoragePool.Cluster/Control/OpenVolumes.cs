using StoragePool.Storage.IO;

namespace StoragePool.Cluster.Control;

/// <summary>
/// Who has which volume or snapshot open (one lease per NBD/FUSE connection), so that deleting,
/// shrinking or reverting data in use is refused, and a forced delete can take it away first.
/// Each lease has its own open volume; a resize is passed on to every one of them.
/// </summary>
internal sealed class OpenVolumes
{
    private readonly Dictionary<string, Users> _byId = new(StringComparer.Ordinal);

    /// <summary>Registers a user of <paramref name="id"/> and opens the data with the revocation token of that id.</summary>
    public VolumeLease Acquire(string id, VolumeHolder holder, Func<CancellationToken, IBlockVolume> open)
    {
        Users users;
        lock (_byId)
        {
            if (!_byId.TryGetValue(id, out users!))
            {
                users = new Users();
                _byId[id] = users;
            }
            users.Count++;
            users.Files += holder == VolumeHolder.File ? 1 : 0;
        }
        IBlockVolume volume;
        try
        {
            volume = open(users.Revoke.Token);
        }
        catch
        {
            Release(id, holder, null);
            throw;
        }
        lock (_byId)
        {
            users.Volumes.Add(volume);
        }
        return new VolumeLease(volume, () => Release(id, holder, volume));
    }

    /// <summary>Tells every open volume of <paramref name="id"/> its new size (after the store resized it).</summary>
    public void Resized(string id, long size)
    {
        lock (_byId)
        {
            if (_byId.TryGetValue(id, out var users))
            {
                foreach (var volume in users.Volumes.OfType<BlockVolume>())
                {
                    volume.Resized(size);
                }
            }
        }
    }

    /// <summary>How many users have <paramref name="id"/> open; those holding its file too unless <paramref name="withFiles"/> is false.</summary>
    public int CountOf(string id, bool withFiles = true)
    {
        lock (_byId)
        {
            return !_byId.TryGetValue(id, out var users) ? 0 : withFiles ? users.Count : users.Count - users.Files;
        }
    }

    /// <summary>Tells every user of <paramref name="id"/> to let go, and waits (bounded) until they have.</summary>
    public async Task<bool> RevokeAsync(string id, TimeSpan timeout, CancellationToken ct)
    {
        Users? users;
        lock (_byId)
        {
            _byId.TryGetValue(id, out users);
        }
        if (users is null)
        {
            return true;
        }
        await users.Revoke.CancelAsync();
        try
        {
            await users.Gone.Task.WaitAsync(timeout, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Release(string id, VolumeHolder holder, IBlockVolume? volume)
    {
        lock (_byId)
        {
            var users = _byId[id];
            users.Files -= holder == VolumeHolder.File ? 1 : 0;
            if (volume is not null)
            {
                users.Volumes.Remove(volume);
            }
            if (--users.Count == 0)
            {
                _byId.Remove(id);
                users.Gone.TrySetResult(); // the token source is left to the GC: a revoke may still be cancelling it
            }
        }
    }

    private sealed class Users
    {
        public int Count { get; set; }

        /// <summary>How many of <see cref="Count"/> are handles on the volume's file (<see cref="VolumeHolder.File"/>).</summary>
        public int Files { get; set; }

        public List<IBlockVolume> Volumes { get; } = [];

        public CancellationTokenSource Revoke { get; } = new();

        public TaskCompletionSource Gone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Who holds a lease on a volume: what a resize through the volume's file may ignore.</summary>
public enum VolumeHolder
{
    /// <summary>A connection (NBD, a transfer): it must be gone before the volume shrinks or goes.</summary>
    Connection,

    /// <summary>An open handle on the volume's file in the FUSE mount: it sees a truncate of that file at once.</summary>
    File,
}

/// <summary>One connection's hold on an open volume or snapshot; dispose it when the connection ends.</summary>
public sealed class VolumeLease : IAsyncDisposable
{
    private Action? _release;

    internal VolumeLease(IBlockVolume volume, Action release)
    {
        Volume = volume;
        _release = release;
    }

    public IBlockVolume Volume { get; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _release, null) is { } release)
        {
            try
            {
                if (Volume is IAsyncDisposable disposable)
                {
                    await disposable.DisposeAsync();
                }
            }
            finally
            {
                release();
            }
        }
    }
}
