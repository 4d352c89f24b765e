using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Capacity;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;
using StoragePool.Storage;
using StoragePool.Storage.IO;

namespace StoragePool.Cluster.Control;

/// <summary>
/// Every operation on stores, pools, volumes and snapshots of this node. Metadata is the truth of
/// what exists; each operation that touches data first records its intent (a state other than
/// <see cref="ObjectState.Ready"/>), then changes the data, then records the result. After a crash,
/// <see cref="RecoverAsync"/> rolls every intent forward or back, so nothing is left half-made.
/// Mutations are serialized (one node, one writer); reads run freely.
/// </summary>
public sealed class PoolManager : IDisposable
{
    private readonly string? _dataDirectory;
    private readonly IMetadataStore _metadata;
    private readonly ILogger _logger;
    private readonly CrashPoints _crash;
    private readonly OperationMetrics _metrics;
    private readonly SemaphoreSlim _mutation = new(1, 1);
    private readonly ConcurrentDictionary<string, (StoreRecord Record, IVolumeStore Store)> _stores = new();
    private readonly OpenVolumes _open = new();

    /// <summary>Every data-changing request of every volume passes here: QoS and the replication log will be its stages.</summary>
    private readonly WriteWatch _watch = new();
    private readonly WritePath _writes;

    /// <summary>How long a forced delete waits for clients to let go.</summary>
    internal static readonly TimeSpan RevokeTimeout = TimeSpan.FromSeconds(10);

    /// <param name="dataDirectory">the daemon's data directory: no store may be it or hold it, and stores inside it
    /// only in its <c>stores/</c> folder (null where there is none to protect, in tests).</param>
    public PoolManager(IMetadataStore metadata, ILogger<PoolManager> logger, OperationMetrics metrics, CrashPoints? crashPoints = null,
        string? dataDirectory = null)
    {
        _dataDirectory = dataDirectory;
        _metadata = metadata;
        _logger = logger;
        _metrics = metrics;
        _crash = crashPoints ?? CrashPoints.None;
        _writes = new WritePath([_watch]);
    }

    public void Dispose() => _mutation.Dispose();

    public static string Version { get; } =
        typeof(PoolManager).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    // ---------------------------------------------------------------- stores

    public async Task<IReadOnlyList<StoreInfo>> ListStoresAsync(CancellationToken ct = default)
    {
        var snapshot = await ReadAllAsync(ct);
        return snapshot.Stores.Select(s => StoreInfoOf(s, snapshot)).ToList();
    }

    public Task<StoreInfo> AddStoreAsync(string name, string path, double? overcommitRatio, double? watermarkPercent, CancellationToken ct = default) =>
        MutateAsync("store.add", async () =>
        {
            Names.Validate(NameKind.Store, name);
            var ratio = overcommitRatio ?? Admission.DefaultOvercommitRatio;
            var watermark = watermarkPercent ?? Admission.DefaultWatermarkPercent;
            Admission.ValidatePolicy(ratio, watermark);
            var all = await ReadAllAsync(ct);
            if (all.Stores.Any(s => s.Name == name))
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"store '{name}' already exists");
            }
            // the rules hold for the path as given and for the one it leads to: a symbolic link to /etc is /etc
            var others = all.Stores.Select(s => (s.Name, s.Path)).ToList();
            CheckStorePath(path, others);
            var real = VolumeStores.ValidatePath(StoreBackends.File, StorePaths.Normalize(path));
            CheckStorePath(real, others);
            var record = new StoreRecord(name, StoreBackends.File, real, ratio, watermark, DateTimeOffset.UtcNow);
            var result = await _metadata.TxnAsync(
                new Transaction([Compare.Absent(MetadataKeys.Store(name))], [new Op.Put(MetadataKeys.Store(name), MetadataJson.Encode(record))]), ct);
            if (!result.Succeeded)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"store '{name}' already exists");
            }
            _logger.StoreAdded(name, record.Path);
            return StoreInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    private void CheckStorePath(string path, IEnumerable<(string Name, string Path)> stores)
    {
        if (StorePaths.Problem(path, _dataDirectory, stores) is { } problem)
        {
            throw new StoragePoolException(ErrorCode.StorePathInvalid, $"store path {problem}");
        }
    }

    public Task RemoveStoreAsync(string name, CancellationToken ct = default) =>
        MutateAsync("store.remove", async () =>
        {
            var all = await ReadAllAsync(ct);
            var store = all.Store(name);
            var pools = all.Pools.Where(p => p.Store == name).Select(p => p.Name).ToList();
            if (pools.Count > 0)
            {
                throw new StoragePoolException(ErrorCode.StoreInUse,
                    $"store '{name}' holds pool(s) {string.Join(", ", pools.Select(p => $"'{p}'"))}; delete them first");
            }
            await _metadata.TxnAsync(Transaction.Of(new Op.Delete(MetadataKeys.Store(store.Name))), ct);
            _stores.TryRemove(name, out _);
            try
            {
                VolumeStores.Open(store).RemoveLayout();
            }
            catch (StoragePoolException e)
            {
                // the store is gone from the metadata either way; what is left in its directory is the admin's
                _logger.StoreLayoutLeft(name, store.Path, e.Message);
            }
            return 0;
        }, ct);

    // ---------------------------------------------------------------- pools

    public async Task<IReadOnlyList<PoolInfo>> ListPoolsAsync(CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        return all.Pools.Select(p => PoolInfoOf(p, all)).ToList();
    }

    public async Task<PoolInfo> GetPoolAsync(string name, CancellationToken ct = default)
    {
        Names.Validate(NameKind.Pool, name);
        var all = await ReadAllAsync(ct);
        return PoolInfoOf(all.Pool(name), all);
    }

    public Task<PoolInfo> CreatePoolAsync(string name, string store, CancellationToken ct = default) =>
        MutateAsync("pool.create", async () =>
        {
            Names.Validate(NameKind.Pool, name);
            Names.Validate(NameKind.Store, store);
            var all = await ReadAllAsync(ct);
            var storeKv = await _metadata.GetAsync(MetadataKeys.Store(store), ct)
                ?? throw NotFound(ErrorCode.StoreNotFound, $"store '{store}'", "storagepool store list");
            var record = new PoolRecord(name, store, DateTimeOffset.UtcNow);
            var result = await _metadata.TxnAsync(new Transaction(
                [Compare.Absent(MetadataKeys.Pool(name)), Compare.ModRevisionIs(storeKv.Key, storeKv.ModRevision)],
                [new Op.Put(MetadataKeys.Pool(name), MetadataJson.Encode(record))]), ct);
            if (!result.Succeeded)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"pool '{name}' already exists");
            }
            _logger.PoolCreated(name, store);
            return PoolInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    public Task DeletePoolAsync(string name, CancellationToken ct = default) =>
        MutateAsync("pool.delete", async () =>
        {
            Names.Validate(NameKind.Pool, name);
            var all = await ReadAllAsync(ct);
            all.Pool(name);
            var volumes = all.Volumes.Where(v => v.Pool == name).ToList();
            if (volumes.Count > 0)
            {
                throw new StoragePoolException(ErrorCode.PoolNotEmpty,
                    $"pool '{name}' still has {volumes.Count} volume(s) ({string.Join(", ", volumes.Take(5).Select(v => v.Name))}" +
                    $"{(volumes.Count > 5 ? ", ..." : string.Empty)}); delete them first");
            }
            await _metadata.TxnAsync(Transaction.Of(new Op.Delete(MetadataKeys.Pool(name))), ct);
            _logger.PoolDeleted(name);
            return 0;
        }, ct);

    // ---------------------------------------------------------------- volumes

    public async Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(string? pool, CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        if (pool is not null)
        {
            Names.Validate(NameKind.Pool, pool);
            all.Pool(pool);
        }
        return all.Volumes.Where(v => pool is null || v.Pool == pool).Select(v => VolumeInfoOf(v, all)).ToList();
    }

    public async Task<VolumeInfo> GetVolumeAsync(VolumeRef volume, CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        return VolumeInfoOf(all.Volume(volume), all);
    }

    public Task<VolumeChange> CreateVolumeAsync(VolumeRef volume, long sizeBytes, CancellationToken ct = default) =>
        CreateVolumeAsync(volume, sizeBytes, ownership: null, ct);

    /// <summary>
    /// Creates an empty volume as a file system's create(O_CREAT|O_EXCL) does: 0 bytes until the creator truncates
    /// or fallocates it to its size (<see cref="ResizeVolumeFileAsync"/>), owned as the file's creator asked.
    /// </summary>
    public Task<VolumeChange> CreateVolumeFileAsync(VolumeRef volume, FileOwnership ownership, CancellationToken ct = default) =>
        CreateVolumeAsync(volume, 0, ownership, ct);

    private Task<VolumeChange> CreateVolumeAsync(VolumeRef volume, long sizeBytes, FileOwnership? ownership, CancellationToken ct) =>
        MutateAsync("volume.create", async () =>
        {
            var (size, note) = VolumeSize.Normalize(sizeBytes, allowEmpty: ownership is not null);
            var all = await ReadAllAsync(ct);
            var pool = all.Pool(volume.Pool);
            if (all.FindVolume(volume) is not null)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"volume '{volume}' already exists");
            }
            var (storeRecord, store) = OpenStore(all.Store(pool.Store));
            Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), size, 0,
                $"create volume '{volume}' of {ByteSize.Format(size)}");

            var record = new VolumeRecord(Ids.New(), volume.Pool, volume.Name, size, DateTimeOffset.UtcNow, ObjectState.Creating,
                Ownership: ownership);
            await PutNewAsync(MetadataKeys.Volume(volume.Pool, volume.Name), MetadataJson.Encode(record), $"volume '{volume}'", ct);
            _crash.Reached(CrashPoints.VolumeCreateRecorded);
            store.CreateVolume(record.Id, size);
            _crash.Reached(CrashPoints.VolumeCreateData);
            record = await PutVolumeAsync(record with { State = ObjectState.Ready }, ct);
            _logger.VolumeCreated(volume, size);
            return new VolumeChange(VolumeInfoOf(record, await ReadAllAsync(ct)), note is null ? [] : [note]);
        }, ct);

    public Task<VolumeChange> ResizeVolumeAsync(VolumeRef volume, long sizeBytes, bool allowShrink, CancellationToken ct = default) =>
        ResizeVolumeAsync(volume, sizeBytes, allowShrink, asFile: false, ct);

    /// <summary>
    /// Resizes a volume as truncate(2) on its file does: to any size down to 0 bytes. Truncating to 0 empties it (O_TRUNC,
    /// and how <c>virsh vol-wipe</c> zeroes a file); any other shrink is refused while the volume holds data, unless
    /// <paramref name="allowShrink"/> (the daemon's <c>fuse_allow_shrink</c>): a cut in the middle is more likely a
    /// mistake than a wish. The file's own open handles (leases held as <see cref="VolumeHolder.File"/>, which see the
    /// new size at once) do not make it in use.
    /// </summary>
    public Task<VolumeChange> ResizeVolumeFileAsync(VolumeRef volume, long sizeBytes, bool allowShrink, CancellationToken ct = default) =>
        ResizeVolumeAsync(volume, sizeBytes, allowShrink, asFile: true, ct);

    private Task<VolumeChange> ResizeVolumeAsync(VolumeRef volume, long sizeBytes, bool allowShrink, bool asFile, CancellationToken ct) =>
        MutateAsync("volume.resize", async () =>
        {
            var (size, note) = VolumeSize.Normalize(sizeBytes, allowEmpty: asFile);
            var all = await ReadAllAsync(ct);
            var record = ReadyVolume(all, volume);
            if (size < record.SizeBytes && size > 0 && asFile && !allowShrink && AllocatedOf(all, record) > 0)
            {
                throw new StoragePoolException(ErrorCode.ShrinkNotAllowed,
                    $"volume '{volume}' holds data; truncating its file from {ByteSize.Format(record.SizeBytes)} to " +
                    $"{ByteSize.Format(size)} would lose what is past the new end (truncating to 0 empties it): use 'storagepool volume resize --allow-shrink', " +
                    "or set fuse_allow_shrink in the daemon's config");
            }
            if (size < record.SizeBytes && !allowShrink && !asFile)
            {
                throw new StoragePoolException(ErrorCode.ShrinkNotAllowed,
                    $"volume '{volume}' is {ByteSize.Format(record.SizeBytes)}; cannot shrink to {ByteSize.Format(size)} " +
                    "without --allow-shrink (data past the new end is lost)");
            }
            var notes = note is null ? new List<string>() : [note];
            if (size == record.SizeBytes)
            {
                notes.Add($"volume '{volume}' is already {ByteSize.Format(size)}; nothing changed");
                return new VolumeChange(VolumeInfoOf(record, all), notes);
            }
            if (size < record.SizeBytes && _open.CountOf(record.Id, withFiles: !asFile) > 0)
            {
                await EnsureNotInUseAsync(record.Id, $"volume '{volume}'", force: null, ct);
            }
            var (storeRecord, store) = StoreOfPool(all, record.Pool);
            if (size > record.SizeBytes)
            {
                Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), size - record.SizeBytes, 0,
                    $"grow volume '{volume}' to {ByteSize.Format(size)}");
            }
            record = await PutVolumeAsync(record with { State = ObjectState.Resizing, PendingSize = size }, ct);
            _crash.Reached(CrashPoints.VolumeResizeMarked);
            store.ResizeVolume(record.Id, size);
            _open.Resized(record.Id, size);
            _crash.Reached(CrashPoints.VolumeResizeData);
            record = await PutVolumeAsync(record with { State = ObjectState.Ready, SizeBytes = size, PendingSize = null }, ct);
            _logger.VolumeResized(volume, size);
            return new VolumeChange(VolumeInfoOf(record, await ReadAllAsync(ct)), notes);
        }, ct);

    /// <summary>Records the owner and mode of the volume's file (chown/chmod through the FUSE file system).</summary>
    public Task<VolumeInfo> SetVolumeOwnershipAsync(VolumeRef volume, FileOwnership ownership, CancellationToken ct = default) =>
        MutateAsync("volume.chown", async () =>
        {
            var record = ReadyVolume(await ReadAllAsync(ct), volume);
            if (record.Ownership != ownership)
            {
                record = await PutVolumeAsync(record with { Ownership = ownership }, ct);
            }
            return VolumeInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    /// <param name="force">disconnect the volume's clients (NBD, FUSE) first instead of refusing.</param>
    public Task DeleteVolumeAsync(VolumeRef volume, bool withSnapshots, bool force = false, CancellationToken ct = default) =>
        MutateAsync("volume.delete", async () =>
        {
            var all = await ReadAllAsync(ct);
            var record = all.Volume(volume);
            var snapshots = all.SnapshotsOf(record).ToList();
            if (snapshots.Count > 0 && !withSnapshots)
            {
                throw new StoragePoolException(ErrorCode.VolumeHasSnapshots,
                    $"volume '{volume}' has {snapshots.Count} snapshot(s) ({string.Join(", ", snapshots.Take(5).Select(s => s.Name))}); " +
                    "delete them first or pass --with-snapshots");
            }
            foreach (var (id, what) in snapshots.Select(s => (s.Id, $"snapshot '{volume}@{s.Name}'")).Append((record.Id, $"volume '{volume}'")))
            {
                await EnsureNotInUseAsync(id, what, force, ct);
            }
            await _metadata.TxnAsync(Transaction.Of(
                [.. snapshots.Select(s => Put(s with { State = ObjectState.Deleting })), Put(record with { State = ObjectState.Deleting })]), ct);
            _crash.Reached(CrashPoints.VolumeDeleteMarked);
            await FinishVolumeDeleteAsync(all, record with { State = ObjectState.Deleting }, ct);
            _logger.VolumeDeleted(volume);
            return 0;
        }, ct);

    public Task<VolumeInfo> CloneVolumeAsync(SnapshotRef source, VolumeRef target, CancellationToken ct = default) =>
        MutateAsync("volume.clone", async () =>
        {
            var all = await ReadAllAsync(ct);
            var snapshot = ReadySnapshot(all, source);
            var sourcePool = all.Pool(source.Pool);
            var targetPool = all.Pool(target.Pool);
            if (all.FindVolume(target) is not null)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"volume '{target}' already exists");
            }
            if (sourcePool.Store != targetPool.Store)
            {
                throw new StoragePoolException(ErrorCode.Unsupported,
                    $"pool '{target.Pool}' is on store '{targetPool.Store}' but '{source}' is on store '{sourcePool.Store}'; " +
                    "clone into a pool on the same store, then move the volume");
            }
            var (storeRecord, store) = OpenStore(all.Store(sourcePool.Store));
            Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), snapshot.SizeBytes,
                store.GetSnapshotAllocatedBytes(snapshot.Id), $"clone '{source}' to '{target}'");

            var record = new VolumeRecord(Ids.New(), target.Pool, target.Name, snapshot.SizeBytes, DateTimeOffset.UtcNow,
                ObjectState.Creating, PendingSnapshotId: snapshot.Id);
            await PutNewAsync(MetadataKeys.Volume(target.Pool, target.Name), MetadataJson.Encode(record), $"volume '{target}'", ct);
            _crash.Reached(CrashPoints.VolumeCloneRecorded);
            var method = await store.CloneFromSnapshotAsync(snapshot.Id, record.Id, ct);
            _crash.Reached(CrashPoints.VolumeCloneData);
            record = await PutVolumeAsync(record with { State = ObjectState.Ready, PendingSnapshotId = null }, ct);
            _logger.VolumeCloned(source, target, method);
            return VolumeInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    public Task<VolumeInfo> RevertVolumeAsync(SnapshotRef snapshotRef, CancellationToken ct = default) =>
        MutateAsync("volume.revert", async () =>
        {
            var all = await ReadAllAsync(ct);
            var volume = ReadyVolume(all, snapshotRef.VolumeRef);
            var snapshot = ReadySnapshot(all, snapshotRef);
            await EnsureNotInUseAsync(volume.Id, $"volume '{snapshotRef.VolumeRef}'", force: null, ct);
            var (storeRecord, store) = StoreOfPool(all, volume.Pool);
            Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name),
                Math.Max(0, snapshot.SizeBytes - volume.SizeBytes), store.GetSnapshotAllocatedBytes(snapshot.Id),
                $"revert '{snapshotRef.VolumeRef}' to '{snapshotRef}'");
            var record = await PutVolumeAsync(volume with { State = ObjectState.Reverting, PendingSnapshotId = snapshot.Id }, ct);
            _crash.Reached(CrashPoints.VolumeRevertMarked);
            await store.RevertToSnapshotAsync(record.Id, snapshot.Id, ct);
            _crash.Reached(CrashPoints.VolumeRevertData);
            record = await PutVolumeAsync(record with { State = ObjectState.Ready, SizeBytes = snapshot.SizeBytes, PendingSnapshotId = null }, ct);
            _logger.VolumeReverted(snapshotRef);
            return VolumeInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    // ---------------------------------------------------------------- snapshots

    public async Task<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(VolumeRef volume, CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        var record = all.Volume(volume);
        return all.SnapshotsOf(record).Select(s => SnapshotInfoOf(s, all)).ToList();
    }

    public Task<SnapshotInfo> CreateSnapshotAsync(SnapshotRef snapshotRef, CancellationToken ct = default) =>
        MutateAsync("snapshot.create", async () =>
        {
            var all = await ReadAllAsync(ct);
            var volume = ReadyVolume(all, snapshotRef.VolumeRef);
            if (all.FindSnapshot(snapshotRef) is not null)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists, $"snapshot '{snapshotRef}' already exists");
            }
            var (storeRecord, store) = StoreOfPool(all, volume.Pool);
            Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), volume.SizeBytes,
                store.GetVolumeAllocatedBytes(volume.Id), $"snapshot '{snapshotRef.VolumeRef}'");
            var record = new SnapshotRecord(Ids.New(), volume.Pool, volume.Name, volume.Id, snapshotRef.Name, volume.SizeBytes,
                DateTimeOffset.UtcNow, ObjectState.Creating);
            await PutNewAsync(SnapshotKey(record), MetadataJson.Encode(record), $"snapshot '{snapshotRef}'", ct);
            _crash.Reached(CrashPoints.SnapshotCreateRecorded);
            var method = await store.CreateSnapshotAsync(volume.Id, record.Id, ct);
            _crash.Reached(CrashPoints.SnapshotCreateData);
            record = record with { State = ObjectState.Ready };
            await _metadata.TxnAsync(Transaction.Of(Put(record)), ct);
            _logger.SnapshotCreated(snapshotRef, method);
            return SnapshotInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    public Task DeleteSnapshotAsync(SnapshotRef snapshotRef, CancellationToken ct = default) =>
        MutateAsync("snapshot.delete", async () =>
        {
            var all = await ReadAllAsync(ct);
            var record = all.Snapshot(snapshotRef) with { State = ObjectState.Deleting };
            await EnsureNotInUseAsync(record.Id, $"snapshot '{snapshotRef}'", force: null, ct);
            await _metadata.TxnAsync(Transaction.Of(Put(record)), ct);
            _crash.Reached(CrashPoints.SnapshotDeleteMarked);
            await FinishSnapshotDeleteAsync(all, record, ct);
            _logger.SnapshotDeleted(snapshotRef);
            return 0;
        }, ct);

    // ---------------------------------------------------------------- data access

    /// <summary>Every name that <see cref="OpenAsync"/> takes: <c>pool/volume</c> and <c>pool/volume@snapshot</c>.</summary>
    public async Task<IReadOnlyList<string>> ListExportsAsync(CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        return all.Volumes.Where(v => v.State == ObjectState.Ready).Select(v => $"{v.Pool}/{v.Name}")
            .Concat(all.Snapshots.Where(s => s.State == ObjectState.Ready).Select(s => $"{s.Pool}/{s.Volume}@{s.Name}"))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Opens <c>pool/volume</c> (read-write) or <c>pool/volume@snapshot</c> (read-only) for one client.
    /// While the lease lives, the volume is in use: deleting, shrinking or reverting it is refused
    /// (a forced delete revokes the lease: <see cref="IBlockVolume.Revoked"/> fires). The FUSE mount opens as
    /// <see cref="VolumeHolder.File"/>, every other client as <see cref="VolumeHolder.Connection"/>.
    /// </summary>
    public Task<VolumeLease> OpenAsync(string name, VolumeHolder holder, CancellationToken ct = default) =>
        MutateAsync("volume.open", async () =>
        {
            var all = await ReadAllAsync(ct);
            var export = ResolveExport(all, name);
            var (_, store) = StoreOfPool(all, export.Pool);
            return _open.Acquire(export.Id, holder, revoked => export.ReadOnly
                ? store.OpenSnapshot(export.Id, export.Name, revoked)
                : store.OpenVolume(export.Id, export.Name, _writes, revoked));
        }, ct);

    /// <summary>Fails the way <see cref="OpenAsync"/> would for a name that is not an export; else says whether it is read-only.</summary>
    public async Task<bool> CheckExportAsync(string name, CancellationToken ct = default) =>
        ResolveExport(await ReadAllAsync(ct), name).ReadOnly;

    /// <summary><c>pool/volume</c> is a ready volume (read-write), <c>pool/volume@snapshot</c> a ready snapshot (read-only).</summary>
    private static (string Id, string Pool, string Name, bool ReadOnly) ResolveExport(MetadataView all, string name)
    {
        if (name.Contains('@', StringComparison.Ordinal))
        {
            var snapshotRef = SnapshotRef.Parse(name);
            var snapshot = ReadySnapshot(all, snapshotRef);
            return (snapshot.Id, snapshot.Pool, snapshotRef.ToString(), true);
        }
        var volumeRef = VolumeRef.Parse(name);
        var volume = ReadyVolume(all, volumeRef);
        return (volume.Id, volume.Pool, volumeRef.ToString(), false);
    }

    /// <summary>Counts writes to <paramref name="volume"/> (<c>pool/volume</c>) from now until the watcher is disposed.</summary>
    public VolumeWriteWatcher WatchWrites(string volume) => _watch.Watch(volume);

    /// <summary>How many clients have the volume or snapshot with this id open.</summary>
    public int ClientsOf(string id) => _open.CountOf(id);

    /// <param name="force">disconnect the clients instead of refusing; only deletes can (<c>--force</c>), and only
    /// their refusals say so.</param>
    private async Task EnsureNotInUseAsync(string id, string what, bool? force, CancellationToken ct)
    {
        var clients = _open.CountOf(id);
        if (clients == 0)
        {
            return;
        }
        if (force != true)
        {
            throw new StoragePoolException(ErrorCode.VolumeInUse,
                $"{what} is in use by {clients} client(s) (NBD or FUSE); disconnect them first" +
                (force is null ? string.Empty : ", or delete with --force, which disconnects them"));
        }
        if (!await _open.RevokeAsync(id, RevokeTimeout, ct))
        {
            throw new StoragePoolException(ErrorCode.VolumeInUse,
                $"{what} still has {_open.CountOf(id)} client(s) {RevokeTimeout.TotalSeconds:0} s after they were told to disconnect; try again");
        }
    }

    // ---------------------------------------------------------------- receiving transfers

    /// <summary>
    /// Makes <paramref name="target"/> the target of transfer <paramref name="transferId"/> and opens it for writing:
    /// a new volume (admitted for its size and the <paramref name="dataBytes"/> that will arrive), the same transfer's
    /// target again (a resume), or an existing volume that <paramref name="overwrite"/> or <paramref name="incremental"/>
    /// allows. Until <see cref="FinishReceiveAsync"/> the volume is <see cref="ObjectState.Receiving"/>: not exported.
    /// </summary>
    public Task<(VolumeLease Lease, ReceiveStart Start)> BeginReceiveAsync(VolumeRef target, string transferId, long sizeBytes,
        long dataBytes, bool overwrite, bool incremental, CancellationToken ct = default) =>
        MutateAsync("volume.receive", async () =>
        {
            var all = await ReadAllAsync(ct);
            var pool = all.Pool(target.Pool);
            var existing = all.FindVolume(target);
            var (storeRecord, store) = OpenStore(all.Store(pool.Store));
            ReceiveStart start;
            VolumeRecord record;
            if (existing is null)
            {
                // 0 bytes is a volume too: a file made by touch on the FUSE mount is one until it is given a size
                if (sizeBytes < 0 || sizeBytes % VolumeSize.BlockSize != 0 || sizeBytes > VolumeSize.Max)
                {
                    throw new StoragePoolException(ErrorCode.InvalidSize,
                        $"a transfer of {sizeBytes} bytes is not a volume's size (a whole number of 4 KiB blocks, at most {ByteSize.Format(VolumeSize.Max)})");
                }
                Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), sizeBytes, dataBytes,
                    $"receive volume '{target}' ({ByteSize.Format(sizeBytes)}, up to {ByteSize.Format(dataBytes)} of data)");
                record = new VolumeRecord(Ids.New(), target.Pool, target.Name, sizeBytes, DateTimeOffset.UtcNow, ObjectState.Creating);
                await PutNewAsync(MetadataKeys.Volume(target.Pool, target.Name), MetadataJson.Encode(record), $"volume '{target}'", ct);
                store.CreateVolume(record.Id, sizeBytes);
                record = await PutVolumeAsync(record with { State = ObjectState.Receiving, TransferId = transferId }, ct);
                start = ReceiveStart.Created;
            }
            else if (existing.State == ObjectState.Receiving && existing.TransferId == transferId)
            {
                record = existing;
                start = ReceiveStart.Resumed;
            }
            else if (existing.State == ObjectState.Receiving)
            {
                throw new StoragePoolException(ErrorCode.VolumeInUse,
                    $"volume '{target}' is receiving another transfer ({existing.TransferId}); wait for it, cancel it, or delete the volume");
            }
            else if (!overwrite && !incremental)
            {
                throw new StoragePoolException(ErrorCode.AlreadyExists,
                    $"volume '{target}' already exists on the destination; pass --overwrite to replace it, " +
                    "--incremental to send only what differs, or --as to name another volume");
            }
            else
            {
                var current = ReadyVolume(all, target);
                if (incremental && current.SizeBytes != sizeBytes)
                {
                    throw new StoragePoolException(ErrorCode.InvalidSize,
                        $"volume '{target}' is {ByteSize.Format(current.SizeBytes)} on the destination and the source is " +
                        $"{ByteSize.Format(sizeBytes)}: an incremental copy needs equal sizes (resize one, or copy with --overwrite)");
                }
                await EnsureNotInUseAsync(current.Id, $"volume '{target}'", force: null, ct);
                if (current.SizeBytes != sizeBytes)
                {
                    if (sizeBytes > current.SizeBytes)
                    {
                        Admission.Check(storeRecord, store.GetUsage(), all.ProvisionedBytes(storeRecord.Name), sizeBytes - current.SizeBytes, 0,
                            $"grow volume '{target}' to {ByteSize.Format(sizeBytes)} for the copy");
                    }
                    store.ResizeVolume(current.Id, sizeBytes);
                }
                record = await PutVolumeAsync(current with { State = ObjectState.Receiving, TransferId = transferId, SizeBytes = sizeBytes }, ct);
                start = incremental ? ReceiveStart.Updating : ReceiveStart.Overwriting;
            }
            var lease = _open.Acquire(record.Id, VolumeHolder.Connection, revoked => store.OpenVolume(record.Id, target.ToString(), _writes, revoked));
            _logger.ReceiveStarted(target, transferId, start);
            return (lease, start);
        }, ct);

    /// <summary>The transfer into <paramref name="target"/> is complete and verified: the volume becomes ready.</summary>
    public Task<VolumeInfo> FinishReceiveAsync(VolumeRef target, string transferId, CancellationToken ct = default) =>
        MutateAsync("volume.receive.finish", async () =>
        {
            var all = await ReadAllAsync(ct);
            var record = all.Volume(target);
            if (record.State != ObjectState.Receiving || record.TransferId != transferId)
            {
                throw new StoragePoolException(ErrorCode.Conflict, $"volume '{target}' is not receiving transfer {transferId}");
            }
            record = await PutVolumeAsync(record with { State = ObjectState.Ready, TransferId = null }, ct);
            return VolumeInfoOf(record, await ReadAllAsync(ct));
        }, ct);

    // ---------------------------------------------------------------- status, changes, recovery

    public async Task<StatusInfo> GetStatusAsync(CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ct);
        var stores = all.Stores.Select(s => StoreInfoOf(s, all)).ToList();
        return new StatusInfo(Version, Environment.MachineName, stores, all.Pools.Select(p => PoolInfoOf(p, all)).ToList(),
            all.Volumes.Count, all.Snapshots.Count, stores.Sum(s => s.ProvisionedBytes), stores.Sum(s => s.AllocatedBytes));
    }

    /// <summary>
    /// Every change to stores, pools, volumes and snapshots from now on, until cancelled. An object
    /// is <see cref="ChangeKind.Added"/> when it first becomes ready, <see cref="ChangeKind.Removed"/>
    /// when its record goes; operations in flight in between are not reported.
    /// </summary>
    public async IAsyncEnumerable<ObjectChange> WatchChangesAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var start = await _metadata.RangeAsync("/", ct);
        var ready = new HashSet<string>(start.Items.Where(kv => IsReady(kv)).Select(kv => kv.Key), StringComparer.Ordinal);
        await foreach (var e in _metadata.WatchAsync("/", start.Revision + 1, ct))
        {
            if (MetadataKeys.Parse(e.Kv.Key) is not { } obj)
            {
                continue;
            }
            if (e.Type == WatchEventType.Delete)
            {
                if (ready.Remove(e.Kv.Key))
                {
                    yield return new ObjectChange(obj.Kind, ChangeKind.Removed, obj.Name);
                }
            }
            else if (IsReady(e.Kv))
            {
                yield return new ObjectChange(obj.Kind, ready.Add(e.Kv.Key) ? ChangeKind.Added : ChangeKind.Changed, obj.Name);
            }
        }
    }

    /// <summary>
    /// Sets aside every record that cannot be served (<see cref="RecordRules"/>), then finishes or rolls back every
    /// operation a crash interrupted: creates roll back (the data may be partial), deletes, resizes and reverts roll
    /// forward (the user asked for them and the data steps repeat safely). Run once at start, before serving.
    /// </summary>
    public Task RecoverAsync(CancellationToken ct = default) =>
        MutateAsync("recover", async () =>
        {
            var all = await ReadAllAsync(ct);
            foreach (var bad in all.Quarantined)
            {
                var moved = MetadataKeys.Quarantine + bad.Key;
                await _metadata.TxnAsync(Transaction.Of(new Op.Put(moved, bad.Value), new Op.Delete(bad.Key)), ct);
                _logger.RecordQuarantined(Names.Display(bad.Key, 256), bad.Reason, Names.Display(moved, 256));
            }
            foreach (var snapshot in all.Snapshots.Where(s => s.State != ObjectState.Ready))
            {
                var (_, store) = StoreOfPool(all, snapshot.Pool);
                if (snapshot.State == ObjectState.Creating)
                {
                    store.DeleteSnapshot(snapshot.Id);
                    await _metadata.TxnAsync(Transaction.Of(new Op.Delete(SnapshotKey(snapshot))), ct);
                }
                else
                {
                    await FinishSnapshotDeleteAsync(all, snapshot, ct);
                }
                _logger.RecoveredSnapshot(snapshot.Pool, snapshot.Volume, snapshot.Name, snapshot.State);
            }
            foreach (var volume in all.Volumes.Where(v => v.State is not (ObjectState.Ready or ObjectState.Receiving)))
            {
                var (_, store) = StoreOfPool(all, volume.Pool);
                switch (volume.State)
                {
                    case ObjectState.Creating:
                        store.DeleteVolume(volume.Id);
                        await _metadata.TxnAsync(Transaction.Of(new Op.Delete(MetadataKeys.Volume(volume.Pool, volume.Name))), ct);
                        break;
                    case ObjectState.Deleting:
                        await FinishVolumeDeleteAsync(all, volume, ct);
                        break;
                    case ObjectState.Resizing:
                        var size = volume.PendingSize ?? volume.SizeBytes;
                        store.ResizeVolume(volume.Id, size);
                        await PutVolumeAsync(volume with { State = ObjectState.Ready, SizeBytes = size, PendingSize = null }, ct);
                        break;
                    case ObjectState.Reverting:
                        var snapshot = all.Snapshots.Single(s => s.Id == volume.PendingSnapshotId);
                        await store.RevertToSnapshotAsync(volume.Id, snapshot.Id, ct);
                        await PutVolumeAsync(volume with { State = ObjectState.Ready, SizeBytes = snapshot.SizeBytes, PendingSnapshotId = null }, ct);
                        break;
                    default:
                        throw new UnreachableException($"volume state {volume.State}");
                }
                _logger.RecoveredVolume(volume.Pool, volume.Name, volume.State);
            }
            ReportUnknownData(await ReadAllAsync(ct));
            return 0;
        }, ct);

    // ---------------------------------------------------------------- steps shared by operations and recovery

    private async Task FinishVolumeDeleteAsync(MetadataView all, VolumeRecord volume, CancellationToken ct)
    {
        var (_, store) = StoreOfPool(all, volume.Pool);
        var snapshots = all.SnapshotsOf(volume).ToList();
        foreach (var s in snapshots)
        {
            store.DeleteSnapshot(s.Id);
        }
        store.DeleteVolume(volume.Id);
        _crash.Reached(CrashPoints.VolumeDeleteData);
        await _metadata.TxnAsync(Transaction.Of(
            [.. snapshots.Select(s => (Op)new Op.Delete(SnapshotKey(s))), new Op.Delete(MetadataKeys.Volume(volume.Pool, volume.Name))]), ct);
    }

    private async Task FinishSnapshotDeleteAsync(MetadataView all, SnapshotRecord snapshot, CancellationToken ct)
    {
        var (_, store) = StoreOfPool(all, snapshot.Pool);
        store.DeleteSnapshot(snapshot.Id);
        _crash.Reached(CrashPoints.SnapshotDeleteData);
        await _metadata.TxnAsync(Transaction.Of(new Op.Delete(SnapshotKey(snapshot))), ct);
    }

    /// <summary>Data in a store that no record names: never deleted automatically (it may be someone's), only reported.</summary>
    private void ReportUnknownData(MetadataView all)
    {
        foreach (var storeRecord in all.Stores)
        {
            var (_, store) = OpenStore(storeRecord);
            var known = all.Volumes.Select(v => v.Id).Concat(all.Snapshots.Select(s => s.Id)).ToHashSet(StringComparer.Ordinal);
            foreach (var id in store.ListVolumeIds().Concat(store.ListSnapshotIds()).Where(id => !known.Contains(id)))
            {
                _logger.UnknownData(storeRecord.Name, id);
            }
        }
    }

    private async Task PutNewAsync(string key, byte[] value, string what, CancellationToken ct)
    {
        var result = await _metadata.TxnAsync(new Transaction([Compare.Absent(key)], [new Op.Put(key, value)]), ct);
        if (!result.Succeeded)
        {
            throw new StoragePoolException(ErrorCode.AlreadyExists, $"{what} already exists");
        }
    }

    private async Task<VolumeRecord> PutVolumeAsync(VolumeRecord record, CancellationToken ct)
    {
        await _metadata.TxnAsync(Transaction.Of(Put(record)), ct);
        return record;
    }

    private static Op.Put Put(VolumeRecord v) => new Op.Put(MetadataKeys.Volume(v.Pool, v.Name), MetadataJson.Encode(v));

    private static Op.Put Put(SnapshotRecord s) => new Op.Put(SnapshotKey(s), MetadataJson.Encode(s));

    private static string SnapshotKey(SnapshotRecord s) => MetadataKeys.Snapshot(s.Pool, s.Volume, s.Name);

    private static VolumeRecord ReadyVolume(MetadataView all, VolumeRef volume)
    {
        var record = all.Volume(volume);
        return record.State == ObjectState.Ready
            ? record
            : throw new StoragePoolException(ErrorCode.Conflict,
                $"volume '{volume}' is {record.State.ToString().ToLowerInvariant()}; try again when that has finished");
    }

    private static SnapshotRecord ReadySnapshot(MetadataView all, SnapshotRef snapshot)
    {
        var record = all.Snapshot(snapshot);
        return record.State == ObjectState.Ready
            ? record
            : throw new StoragePoolException(ErrorCode.Conflict,
                $"snapshot '{snapshot}' is {record.State.ToString().ToLowerInvariant()}; try again when that has finished");
    }

    private static bool IsReady(KeyValue kv) => MetadataKeys.Parse(kv.Key)?.Kind switch
    {
        ObjectKind.Volume => MetadataJson.Volume(kv.Value).State == ObjectState.Ready,
        ObjectKind.Snapshot => MetadataJson.Snapshot(kv.Value).State == ObjectState.Ready,
        ObjectKind.Store or ObjectKind.Pool => true,
        _ => false,
    };

    internal static StoragePoolException NotFound(ErrorCode code, string what, string listCommand) =>
        new(code, $"{what} does not exist; '{listCommand}' shows what does");

    private (StoreRecord Record, IVolumeStore Store) StoreOfPool(MetadataView all, string pool) =>
        OpenStore(all.Store(all.Pool(pool).Store));

    private (StoreRecord Record, IVolumeStore Store) OpenStore(StoreRecord record) =>
        _stores.AddOrUpdate(record.Name,
            _ => (record, VolumeStores.Open(record)),
            (_, existing) => existing.Record.Path == record.Path ? (record, existing.Store) : (record, VolumeStores.Open(record)));

    // ---------------------------------------------------------------- views

    private StoreInfo StoreInfoOf(StoreRecord record, MetadataView all)
    {
        var usage = UsageOf(record);
        var pools = all.Pools.Where(p => p.Store == record.Name).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var allocated = all.Volumes.Where(v => pools.Contains(v.Pool)).Sum(v => AllocatedOf(all, v))
            + all.Snapshots.Where(s => pools.Contains(s.Pool)).Sum(s => AllocatedOf(all, s));
        var provisioned = all.ProvisionedBytes(record.Name);
        return new StoreInfo(record.Name, record.Backend, record.Path, usage.CapacityBytes, usage.FreeBytes,
            provisioned, allocated, record.OvercommitRatio, record.WatermarkPercent, pools.Count,
            Admission.Warning(record, usage, provisioned));
    }

    private PoolInfo PoolInfoOf(PoolRecord record, MetadataView all)
    {
        var volumes = all.Volumes.Where(v => v.Pool == record.Name).ToList();
        var snapshots = all.Snapshots.Where(s => s.Pool == record.Name).ToList();
        var usage = UsageOf(all.Store(record.Store));
        return new PoolInfo(record.Name, record.Store, volumes.Count, snapshots.Count,
            volumes.Sum(v => v.SizeBytes) + snapshots.Sum(s => s.SizeBytes),
            volumes.Sum(v => AllocatedOf(all, v)) + snapshots.Sum(s => AllocatedOf(all, s)),
            usage.CapacityBytes, usage.FreeBytes, record.CreatedAt);
    }

    private VolumeInfo VolumeInfoOf(VolumeRecord record, MetadataView all) =>
        new(record.Id, record.Pool, record.Name, record.SizeBytes, AllocatedOf(all, record),
            all.SnapshotsOf(record).Count(), record.State.ToString().ToLowerInvariant(), record.CreatedAt,
            record.Ownership ?? FileOwnership.Default);

    private SnapshotInfo SnapshotInfoOf(SnapshotRecord record, MetadataView all) =>
        new(record.Id, record.Pool, record.Volume, record.Name, record.SizeBytes, AllocatedOf(all, record), record.CreatedAt);

    // A store whose directory has gone (an unmounted disk) must not take every listing down with it:
    // views show it with 0 bytes and the log says why; operations on it still fail loudly.

    private StoreUsage UsageOf(StoreRecord record) => Tolerant(record, store => store.GetUsage(), default);

    private long AllocatedOf(MetadataView all, VolumeRecord v) => v.State != ObjectState.Ready ? 0
        : Tolerant(all.Store(all.Pool(v.Pool).Store), store => store.VolumeExists(v.Id) ? store.GetVolumeAllocatedBytes(v.Id) : 0, 0);

    private long AllocatedOf(MetadataView all, SnapshotRecord s) => s.State != ObjectState.Ready ? 0
        : Tolerant(all.Store(all.Pool(s.Pool).Store), store => store.SnapshotExists(s.Id) ? store.GetSnapshotAllocatedBytes(s.Id) : 0, 0);

    private T Tolerant<T>(StoreRecord record, Func<IVolumeStore, T> read, T fallback)
    {
        try
        {
            return read(OpenStore(record).Store);
        }
        catch (StoragePoolException e)
        {
            _logger.StoreUnavailable(record.Name, e.Message);
            return fallback;
        }
    }

    // ---------------------------------------------------------------- plumbing

    private async Task<MetadataView> ReadAllAsync(CancellationToken ct) => MetadataView.From(await _metadata.RangeAsync("/", ct));

    private async Task<T> MutateAsync<T>(string operation, Func<Task<T>> body, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await _mutation.WaitAsync(ct);
        try
        {
            var result = await body();
            _metrics.Record(operation, null, Stopwatch.GetElapsedTime(started));
            return result;
        }
        catch (StoragePoolException e)
        {
            _metrics.Record(operation, e.Code, Stopwatch.GetElapsedTime(started));
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _metrics.Record(operation, ErrorCode.IoError, Stopwatch.GetElapsedTime(started));
            throw new StoragePoolException(ErrorCode.IoError, $"{operation} failed: {e.Message}", e);
        }
        finally
        {
            _mutation.Release();
        }
    }
}
