using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Daemon.Hosting;
using StoragePool.Daemon.Nbd;

namespace StoragePool.Daemon.DBus;

/// <summary>
/// The objects of the D-Bus API (see README.md beside this file): the manager, one object per pool
/// and one per volume, every one backed by <see cref="PoolManager"/>. <see cref="Dispatch"/> runs on
/// the bus thread and only reads the call; the work runs later, off that thread.
/// </summary>
internal sealed class BusObjects
{
    public const string ManagerInterface = "org.storagepool.StoragePool1.Manager";
    public const string PoolInterface = "org.storagepool.StoragePool1.Pool";
    public const string VolumeInterface = "org.storagepool.StoragePool1.Volume";

    private const string StoreStruct = "(sssttttddu)";
    private const string SnapshotStruct = "(ssttt)";

    private readonly PoolManager _manager;
    private readonly NbdEndpoints _nbd;

    public BusObjects(PoolManager manager, NbdEndpoints nbd)
    {
        _manager = manager;
        _nbd = nbd;
        Manager = new BusInterface(ManagerInterface,
        [
            new("GetStatus", [], [new("status", "a{sv}")], false, GetStatusAsync),
            new("AddStore", [new("name", "s"), new("path", "s"), new("overcommit_ratio", "d"), new("watermark_percent", "d")],
                [new("store", StoreStruct)], true, AddStoreAsync),
            new("RemoveStore", [new("name", "s")], [], true, RemoveStoreAsync),
            new("ListStores", [], [new("stores", "a" + StoreStruct)], false, ListStoresAsync),
            new("CreatePool", [new("name", "s"), new("store", "s")], [new("pool", "o")], true, CreatePoolAsync),
            new("DeletePool", [new("name", "s")], [], true, DeletePoolAsync),
            new("GetPool", [new("name", "s")], [new("pool", "o")], false, GetPoolAsync),
            new("ListPools", [], [new("pools", "ao")], false, ListPoolsAsync),
            new("CreateVolume", [new("pool", "s"), new("name", "s"), new("size_bytes", "t")],
                [new("volume", "o"), new("notes", "as")], true, CreateVolumeAsync),
            new("GetVolume", [new("pool", "s"), new("name", "s")], [new("volume", "o")], false, GetVolumeAsync),
            new("ListVolumes", [new("pool", "s")], [new("volumes", "ao")], false, ListVolumesAsync),
        ],
        [
            BusProperty.Of<StatusInfo>("Version", "s", (w, s) => w.String(s.Version)),
            BusProperty.Of<StatusInfo>("Node", "s", (w, s) => w.String(s.Node)),
            BusProperty.Of<StatusInfo>("StoreCount", "u", (w, s) => w.Count(s.Stores.Count)),
            BusProperty.Of<StatusInfo>("PoolCount", "u", (w, s) => w.Count(s.Pools.Count)),
            BusProperty.Of<StatusInfo>("VolumeCount", "u", (w, s) => w.Count(s.VolumeCount)),
            BusProperty.Of<StatusInfo>("SnapshotCount", "u", (w, s) => w.Count(s.SnapshotCount)),
            BusProperty.Of<StatusInfo>("ProvisionedBytes", "t", (w, s) => w.Bytes(s.ProvisionedBytes)),
            BusProperty.Of<StatusInfo>("AllocatedBytes", "t", (w, s) => w.Bytes(s.AllocatedBytes)),
        ],
        ChangeSignals.All,
        async (_, ct) => await _manager.GetStatusAsync(ct));

        Pool = new BusInterface(PoolInterface,
        [
            new("Delete", [], [], true, async (node, _, ct) =>
            {
                await _manager.DeletePoolAsync(node.Pool, ct);
                return Reply.Empty;
            }),
            new("CreateVolume", [new("name", "s"), new("size_bytes", "t")], [new("volume", "o"), new("notes", "as")], true,
                (node, args, ct) => CreateVolumeAsync(node.Pool, args.String(0), args.UInt64(1), ct)),
            new("ListVolumes", [], [new("volumes", "ao")], false, (node, _, ct) => ListVolumesAsync(node.Pool, ct)),
        ],
        [
            BusProperty.Of<PoolInfo>("Name", "s", (w, p) => w.String(p.Name)),
            BusProperty.Of<PoolInfo>("Store", "s", (w, p) => w.String(p.Store)),
            BusProperty.Of<PoolInfo>("VolumeCount", "u", (w, p) => w.Count(p.VolumeCount)),
            BusProperty.Of<PoolInfo>("SnapshotCount", "u", (w, p) => w.Count(p.SnapshotCount)),
            BusProperty.Of<PoolInfo>("ProvisionedBytes", "t", (w, p) => w.Bytes(p.ProvisionedBytes)),
            BusProperty.Of<PoolInfo>("AllocatedBytes", "t", (w, p) => w.Bytes(p.AllocatedBytes)),
            BusProperty.Of<PoolInfo>("CapacityBytes", "t", (w, p) => w.Bytes(p.CapacityBytes)),
            BusProperty.Of<PoolInfo>("FreeBytes", "t", (w, p) => w.Bytes(p.FreeBytes)),
            BusProperty.Of<PoolInfo>("CreatedTimestamp", "t", (w, p) => w.Timestamp(p.CreatedAt)),
        ],
        [],
        async (node, ct) => await _manager.GetPoolAsync(node.Pool, ct));

        Volume = new BusInterface(VolumeInterface,
        [
            new("Resize", [new("size_bytes", "t"), new("allow_shrink", "b")], [new("notes", "as")], true, ResizeAsync),
            new("Delete", [new("with_snapshots", "b"), new("force", "b")], [], true, async (node, args, ct) =>
            {
                await _manager.DeleteVolumeAsync(VolumeOf(node), args.Boolean(0), args.Boolean(1), ct);
                return Reply.Empty;
            }),
            new("NbdUris", [new("snapshot", "s")], [new("uris", "as")], false, async (node, args, ct) =>
            {
                var name = args.String(0) is { Length: > 0 } snapshot ? SnapshotOf(node, snapshot).ToString() : VolumeOf(node).ToString();
                var info = NbdService.Describe(_nbd, name, await _manager.CheckExportAsync(name, ct));
                return Reply.Of(w => w.StringArray(info.Uris));
            }),
            new("CreateSnapshot", [new("name", "s")], [new("snapshot", SnapshotStruct)], true, async (node, args, ct) =>
            {
                var snapshot = await _manager.CreateSnapshotAsync(SnapshotOf(node, args.String(0)), ct);
                return Reply.Of(w => WriteSnapshot(w, snapshot));
            }),
            new("ListSnapshots", [], [new("snapshots", "a" + SnapshotStruct)], false, async (node, _, ct) =>
            {
                var snapshots = await _manager.ListSnapshotsAsync(VolumeOf(node), ct);
                return Reply.Of(w =>
                {
                    w.OpenArray(SnapshotStruct);
                    foreach (var snapshot in snapshots)
                    {
                        WriteSnapshot(w, snapshot);
                    }
                    w.Close();
                });
            }),
            new("DeleteSnapshot", [new("name", "s")], [], true, async (node, args, ct) =>
            {
                await _manager.DeleteSnapshotAsync(SnapshotOf(node, args.String(0)), ct);
                return Reply.Empty;
            }),
            new("Clone", [new("snapshot", "s"), new("target_pool", "s"), new("target_name", "s")], [new("volume", "o")], true,
                async (node, args, ct) =>
                {
                    var targetPool = args.String(1).Length == 0 ? node.Pool : Names.Validate(NameKind.Pool, args.String(1));
                    var target = new VolumeRef(targetPool, args.String(2));
                    var clone = await _manager.CloneVolumeAsync(SnapshotOf(node, args.String(0)), target, ct);
                    return Reply.Of(w => w.ObjectPath(ObjectPaths.ForVolume(clone.Pool, clone.Name)));
                }),
            new("Revert", [new("snapshot", "s")], [], true, async (node, args, ct) =>
            {
                await _manager.RevertVolumeAsync(SnapshotOf(node, args.String(0)), ct);
                return Reply.Empty;
            }),
        ],
        [
            BusProperty.Of<VolumeInfo>("Id", "s", (w, v) => w.String(v.Id)),
            BusProperty.Of<VolumeInfo>("Pool", "s", (w, v) => w.String(v.Pool)),
            BusProperty.Of<VolumeInfo>("Name", "s", (w, v) => w.String(v.Name)),
            BusProperty.Of<VolumeInfo>("SizeBytes", "t", (w, v) => w.Bytes(v.SizeBytes)),
            BusProperty.Of<VolumeInfo>("AllocatedBytes", "t", (w, v) => w.Bytes(v.AllocatedBytes)),
            BusProperty.Of<VolumeInfo>("SnapshotCount", "u", (w, v) => w.Count(v.SnapshotCount)),
            BusProperty.Of<VolumeInfo>("State", "s", (w, v) => w.String(v.State)),
            BusProperty.Of<VolumeInfo>("CreatedTimestamp", "t", (w, v) => w.Timestamp(v.CreatedAt)),
        ],
        [],
        async (node, ct) => await _manager.GetVolumeAsync(VolumeOf(node), ct));
    }

    public BusInterface Manager { get; }

    public BusInterface Pool { get; }

    public BusInterface Volume { get; }

    /// <summary>Decides what to do with a call under <see cref="ObjectPaths.Root"/>; null leaves it to sd-bus (UnknownMethod).</summary>
    public BusCall? Dispatch(IncomingCall call)
    {
        if (!ObjectPaths.TryParse(call.Path, out var node))
        {
            return BusCall.Now(Reply.Error(StandardInterfaces.ErrorUnknownObject, $"Unknown object '{call.Path}'."));
        }
        var interfaces = InterfacesOf(node.Kind);

        switch (call.Interface)
        {
            case StandardInterfaces.Introspectable when call.Member == "Introspect":
            case null when call.Member == "Introspect":
                return Expect(call, "", _ => BusCall.Later(ct => IntrospectAsync(node, interfaces, ct)));
            case StandardInterfaces.Properties:
                return PropertiesCall(call, node, interfaces);
            case StandardInterfaces.Peer:
                return null;
        }

        var method = interfaces
            .Where(i => call.Interface is null || i.Name == call.Interface)
            .Select(i => i.Method(call.Member))
            .FirstOrDefault(m => m is not null);
        if (method is null)
        {
            return null;
        }
        return Expect(call, method.InSignature,
            args => BusCall.Later(ct => method.Handler(node, args, ct), method.RootOnly));
    }

    private IReadOnlyList<BusInterface> InterfacesOf(NodeKind kind) => kind switch
    {
        NodeKind.Manager => [Manager],
        NodeKind.Pool => [Pool],
        NodeKind.Volume => [Volume],
        _ => [],
    };

    private static BusCall Expect(IncomingCall call, string signature, Func<MessageArguments, BusCall> then) =>
        call.Signature == signature
            ? then(signature.Length == 0 ? MessageArguments.Empty : call.Read(signature))
            : BusCall.Now(Reply.Error(StandardInterfaces.ErrorInvalidArgs,
                $"{call.Member} takes arguments of type '{signature}', not '{call.Signature}'"));

    // ---------------------------------------------------------------- introspection and properties

    private async Task<Reply> IntrospectAsync(BusNode node, IReadOnlyList<BusInterface> interfaces, CancellationToken ct)
    {
        IEnumerable<string> children;
        try
        {
            children = node.Kind switch
            {
                NodeKind.Manager => [ObjectPaths.PoolsSegment, ObjectPaths.VolumesSegment],
                NodeKind.Pools or NodeKind.VolumeDirectory => (await _manager.ListPoolsAsync(ct)).Select(p => ObjectPaths.Escape(p.Name)),
                NodeKind.PoolVolumes => (await _manager.ListVolumesAsync(node.Pool, ct)).Select(v => ObjectPaths.Escape(v.Name)),
                _ => [],
            };
            foreach (var iface in interfaces)
            {
                if (iface.LoadState is not null && node.Kind != NodeKind.Manager)
                {
                    await iface.LoadState(node, ct); // the object must exist
                }
            }
        }
        catch (StoragePoolException e) when (IsNotFound(e.Code))
        {
            return Reply.Error(StandardInterfaces.ErrorUnknownObject, e.Message);
        }
        var xml = StandardInterfaces.Introspect(interfaces, children.ToList());
        return Reply.Of(w => w.String(xml));
    }

    private static BusCall PropertiesCall(IncomingCall call, BusNode node, IReadOnlyList<BusInterface> interfaces)
    {
        switch (call.Member)
        {
            case "Get":
                return Expect(call, "ss", args => BusCall.Later(ct => GetPropertyAsync(node, interfaces, args.String(0), args.String(1), ct)));
            case "GetAll":
                return Expect(call, "s", args => BusCall.Later(ct => GetAllPropertiesAsync(node, interfaces, args.String(0), ct)));
            case "Set":
                var iface = call.Signature.StartsWith("ss", StringComparison.Ordinal) ? call.Read("ss") : null;
                var name = iface?.String(1) ?? "?";
                var known = interfaces.Any(i => i.Property(name) is not null);
                return BusCall.Now(known
                    ? Reply.Error(StandardInterfaces.ErrorPropertyReadOnly, $"Property '{name}' is read-only; use the methods to change the pool.")
                    : Reply.Error(StandardInterfaces.ErrorUnknownProperty, $"Unknown property '{name}'."));
            default:
                return BusCall.Now(Reply.Error("org.freedesktop.DBus.Error.UnknownMethod",
                    $"Unknown method {call.Member} of interface {StandardInterfaces.Properties}."));
        }
    }

    private static async Task<Reply> GetPropertyAsync(BusNode node, IReadOnlyList<BusInterface> interfaces, string interfaceName,
        string propertyName, CancellationToken ct)
    {
        var iface = interfaces.FirstOrDefault(i => i.Name == interfaceName || interfaceName.Length == 0 && i.Property(propertyName) is not null);
        if (iface is null)
        {
            return StandardInterfaces.IsStandard(interfaceName)
                ? Reply.Error(StandardInterfaces.ErrorUnknownProperty, $"Unknown property '{propertyName}' of {interfaceName}.")
                : Reply.Error(StandardInterfaces.ErrorUnknownInterface, $"Unknown interface '{interfaceName}' at {PathOf(node)}.");
        }
        if (iface.Property(propertyName) is not { } property)
        {
            return Reply.Error(StandardInterfaces.ErrorUnknownProperty, $"Unknown property '{propertyName}' of {iface.Name}.");
        }
        var state = await LoadAsync(iface, node, ct);
        return state is Reply error
            ? error
            : Reply.Of(w =>
            {
                w.OpenVariant(property.Type);
                property.Write(w, state);
                w.Close();
            });
    }

    private static async Task<Reply> GetAllPropertiesAsync(BusNode node, IReadOnlyList<BusInterface> interfaces, string interfaceName,
        CancellationToken ct)
    {
        var selected = interfaces.Where(i => interfaceName.Length == 0 || i.Name == interfaceName).ToList();
        if (selected.Count == 0 && !StandardInterfaces.IsStandard(interfaceName))
        {
            return Reply.Error(StandardInterfaces.ErrorUnknownInterface, $"Unknown interface '{interfaceName}' at {PathOf(node)}.");
        }
        var values = new List<(BusProperty Property, object State)>();
        foreach (var iface in selected)
        {
            var state = await LoadAsync(iface, node, ct);
            if (state is Reply error)
            {
                return error;
            }
            values.AddRange(iface.Properties.Select(p => (p, state)));
        }
        return Reply.Of(w =>
        {
            w.OpenArray("{sv}");
            foreach (var (property, state) in values)
            {
                w.DictEntry(property.Name, property.Type, v => property.Write(v, state));
            }
            w.Close();
        });
    }

    /// <summary>The object's state, or an UnknownObject <see cref="Reply"/> when it does not exist.</summary>
    private static async Task<object> LoadAsync(BusInterface iface, BusNode node, CancellationToken ct)
    {
        try
        {
            return iface.LoadState is null ? new object() : await iface.LoadState(node, ct);
        }
        catch (StoragePoolException e) when (IsNotFound(e.Code))
        {
            return Reply.Error(StandardInterfaces.ErrorUnknownObject, e.Message);
        }
    }

    private static bool IsNotFound(ErrorCode code) =>
        code is ErrorCode.PoolNotFound or ErrorCode.VolumeNotFound or ErrorCode.SnapshotNotFound or ErrorCode.StoreNotFound;

    private static string PathOf(BusNode node) => node.Kind switch
    {
        NodeKind.Pool => ObjectPaths.ForPool(node.Pool),
        NodeKind.Volume => ObjectPaths.ForVolume(node.Pool, node.Volume),
        NodeKind.Pools => ObjectPaths.Pools,
        NodeKind.VolumeDirectory => ObjectPaths.Volumes,
        NodeKind.PoolVolumes => ObjectPaths.ForPoolVolumes(node.Pool),
        _ => ObjectPaths.Root,
    };

    // ---------------------------------------------------------------- manager methods

    private async Task<Reply> GetStatusAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var status = await _manager.GetStatusAsync(ct);
        return Reply.Of(w =>
        {
            w.OpenArray("{sv}");
            foreach (var property in Manager.Properties)
            {
                w.DictEntry(property.Name, property.Type, v => property.Write(v, status));
            }
            w.DictEntry("Stores", "as", v => v.StringArray(status.Stores.Select(s => s.Name)));
            w.DictEntry("Pools", "ao", v => v.ObjectPathArray(status.Pools.Select(p => ObjectPaths.ForPool(p.Name))));
            w.Close();
        });
    }

    private async Task<Reply> AddStoreAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var path = args.String(1);
        if (!Path.IsPathFullyQualified(path))
        {
            throw new StoragePoolException(ErrorCode.StorePathInvalid,
                $"store path '{path}' is relative; give an absolute path (storagepoold does not share the caller's working directory)");
        }
        var overcommit = args.Double(2);
        var watermark = args.Double(3);
        var store = await _manager.AddStoreAsync(args.String(0), path,
            overcommit == 0 ? null : overcommit, watermark == 0 ? null : watermark, ct);
        return Reply.Of(w => WriteStore(w, store));
    }

    private async Task<Reply> RemoveStoreAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        await _manager.RemoveStoreAsync(args.String(0), ct);
        return Reply.Empty;
    }

    private async Task<Reply> ListStoresAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var stores = await _manager.ListStoresAsync(ct);
        return Reply.Of(w =>
        {
            w.OpenArray(StoreStruct);
            foreach (var store in stores)
            {
                WriteStore(w, store);
            }
            w.Close();
        });
    }

    private async Task<Reply> CreatePoolAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var pool = await _manager.CreatePoolAsync(args.String(0), args.String(1), ct);
        return Reply.Of(w => w.ObjectPath(ObjectPaths.ForPool(pool.Name)));
    }

    private async Task<Reply> DeletePoolAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        await _manager.DeletePoolAsync(args.String(0), ct);
        return Reply.Empty;
    }

    private async Task<Reply> GetPoolAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var pool = await _manager.GetPoolAsync(args.String(0), ct);
        return Reply.Of(w => w.ObjectPath(ObjectPaths.ForPool(pool.Name)));
    }

    private async Task<Reply> ListPoolsAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var pools = await _manager.ListPoolsAsync(ct);
        return Reply.Of(w => w.ObjectPathArray(pools.Select(p => ObjectPaths.ForPool(p.Name))));
    }

    private Task<Reply> CreateVolumeAsync(BusNode node, MessageArguments args, CancellationToken ct) =>
        CreateVolumeAsync(args.String(0), args.String(1), args.UInt64(2), ct);

    private async Task<Reply> CreateVolumeAsync(string pool, string name, ulong sizeBytes, CancellationToken ct)
    {
        var volume = new VolumeRef(pool, name);
        var change = await _manager.CreateVolumeAsync(volume, SizeOf(sizeBytes), ct);
        return Reply.Of(w =>
        {
            w.ObjectPath(ObjectPaths.ForVolume(change.Volume.Pool, change.Volume.Name));
            w.StringArray(change.Notes);
        });
    }

    private async Task<Reply> GetVolumeAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var volume = await _manager.GetVolumeAsync(
            new VolumeRef(args.String(0), args.String(1)), ct);
        return Reply.Of(w => w.ObjectPath(ObjectPaths.ForVolume(volume.Pool, volume.Name)));
    }

    private Task<Reply> ListVolumesAsync(BusNode node, MessageArguments args, CancellationToken ct) =>
        ListVolumesAsync(args.String(0).Length == 0 ? null : args.String(0), ct);

    private async Task<Reply> ListVolumesAsync(string? pool, CancellationToken ct)
    {
        var volumes = await _manager.ListVolumesAsync(pool, ct);
        return Reply.Of(w => w.ObjectPathArray(volumes.Select(v => ObjectPaths.ForVolume(v.Pool, v.Name))));
    }

    // ---------------------------------------------------------------- volume methods

    private async Task<Reply> ResizeAsync(BusNode node, MessageArguments args, CancellationToken ct)
    {
        var change = await _manager.ResizeVolumeAsync(VolumeOf(node), SizeOf(args.UInt64(0)), args.Boolean(1), ct);
        return Reply.Of(w => w.StringArray(change.Notes));
    }

    private static VolumeRef VolumeOf(BusNode node) => node.VolumeRef;

    private static SnapshotRef SnapshotOf(BusNode node, string snapshot) =>
        new(node.Pool, node.Volume, Names.Validate(NameKind.Snapshot, snapshot));

    private static long SizeOf(ulong sizeBytes) =>
        sizeBytes <= long.MaxValue
            ? (long)sizeBytes
            : throw new StoragePoolException(ErrorCode.InvalidSize, $"a size of {sizeBytes} bytes is more than any volume can have");

    private static void WriteStore(MessageWriter w, StoreInfo store)
    {
        w.OpenStruct("sssttttddu");
        w.String(store.Name);
        w.String(store.Backend);
        w.String(store.Path);
        w.Bytes(store.CapacityBytes);
        w.Bytes(store.FreeBytes);
        w.Bytes(store.ProvisionedBytes);
        w.Bytes(store.AllocatedBytes);
        w.Double(store.OvercommitRatio);
        w.Double(store.WatermarkPercent);
        w.Count(store.PoolCount);
        w.Close();
    }

    private static void WriteSnapshot(MessageWriter w, SnapshotInfo snapshot)
    {
        w.OpenStruct("ssttt");
        w.String(snapshot.Name);
        w.String(snapshot.Id);
        w.Bytes(snapshot.SizeBytes);
        w.Bytes(snapshot.AllocatedBytes);
        w.Timestamp(snapshot.CreatedAt);
        w.Close();
    }
}
