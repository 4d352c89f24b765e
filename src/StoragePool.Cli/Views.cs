using StoragePool.Core.Model;

namespace StoragePool.Cli;

/// <summary>How each of the API's views looks as a table row or a detail list; shared by the list, show and status commands.</summary>
internal static class Views
{
    public static readonly IReadOnlyList<Column<StoreInfo>> StoreColumns =
    [
        new("NAME", s => s.Name),
        new("PATH", s => s.Path),
        new("CAPACITY", s => Show.Size(s.CapacityBytes), AlignRight: true),
        new("FREE", s => Show.Size(s.FreeBytes), AlignRight: true),
        new("PROVISIONED", s => Show.Size(s.ProvisionedBytes), AlignRight: true),
        new("ALLOCATED", s => Show.Size(s.AllocatedBytes), AlignRight: true),
        new("OVERCOMMIT", s => Show.Ratio(s.OvercommitRatio), AlignRight: true),
        new("WATERMARK", s => Show.Percent(s.WatermarkPercent), AlignRight: true),
        new("POOLS", s => Show.Count(s.PoolCount), AlignRight: true),
    ];

    public static readonly IReadOnlyList<Column<PoolInfo>> PoolColumns =
    [
        new("NAME", p => p.Name),
        new("STORE", p => p.Store),
        new("VOLUMES", p => Show.Count(p.VolumeCount), AlignRight: true),
        new("SNAPSHOTS", p => Show.Count(p.SnapshotCount), AlignRight: true),
        new("PROVISIONED", p => Show.Size(p.ProvisionedBytes), AlignRight: true),
        new("ALLOCATED", p => Show.Size(p.AllocatedBytes), AlignRight: true),
        new("FREE", p => Show.Size(p.FreeBytes), AlignRight: true),
        new("LIBVIRT", p => Libvirt(p.Libvirt, brief: true)),
    ];

    /// <summary>What virsh sees of a pool: its libvirt dir pool's state, or why there is none.</summary>
    public static string Libvirt(LibvirtPoolState? state, bool brief = false) => state switch
    {
        null => "off",
        { Problem: { } problem } => brief ? "-" : problem,
        { Active: true } => brief ? "active" : $"active{(state.Autostart ? ", autostart" : string.Empty)} at {state.Uri}, on {state.TargetPath}",
        _ => brief ? "inactive" : $"defined but inactive at {state.Uri} (virsh pool-start to start it)",
    };

    public static readonly IReadOnlyList<Column<VolumeInfo>> VolumeColumns =
    [
        new("VOLUME", v => $"{v.Pool}/{v.Name}"),
        new("SIZE", v => Show.Size(v.SizeBytes), AlignRight: true),
        new("ALLOCATED", v => Show.Size(v.AllocatedBytes), AlignRight: true),
        new("SNAPSHOTS", v => Show.Count(v.SnapshotCount), AlignRight: true),
        new("STATE", v => v.State),
        new("CREATED", v => Show.Time(v.CreatedAt)),
    ];

    public static readonly IReadOnlyList<Column<SnapshotInfo>> SnapshotColumns =
    [
        new("SNAPSHOT", s => $"{s.Pool}/{s.Volume}@{s.Name}"),
        new("SIZE", s => Show.Size(s.SizeBytes), AlignRight: true),
        new("ALLOCATED", s => Show.Size(s.AllocatedBytes), AlignRight: true),
        new("CREATED", s => Show.Time(s.CreatedAt)),
    ];

    /// <summary>Narrower tables for <c>status</c>, so its panels fit an 80-column terminal.</summary>
    public static readonly IReadOnlyList<Column<StoreInfo>> StoreSummaryColumns =
    [
        new("NAME", s => s.Name),
        new("CAPACITY", s => Show.Size(s.CapacityBytes), AlignRight: true),
        new("FREE", s => Show.Size(s.FreeBytes), AlignRight: true),
        new("PROVISIONED", s => Show.Size(s.ProvisionedBytes), AlignRight: true),
        new("ALLOCATED", s => Show.Size(s.AllocatedBytes), AlignRight: true),
        new("POOLS", s => Show.Count(s.PoolCount), AlignRight: true),
    ];

    /// <inheritdoc cref="StoreSummaryColumns"/>
    public static readonly IReadOnlyList<Column<VolumeInfo>> VolumeSummaryColumns =
        VolumeColumns.Where(c => c.Header != "CREATED").ToArray();

    public static IEnumerable<(string, string)> Details(PoolInfo pool) =>
    [
        ("Pool", pool.Name),
        ("Store", pool.Store),
        ("Volumes", Show.Count(pool.VolumeCount)),
        ("Snapshots", Show.Count(pool.SnapshotCount)),
        ("Provisioned", Show.Size(pool.ProvisionedBytes)),
        ("Allocated", Show.Size(pool.AllocatedBytes)),
        ("Store capacity", Show.Size(pool.CapacityBytes)),
        ("Store free", Show.Size(pool.FreeBytes)),
        ("Created", Show.Time(pool.CreatedAt)),
        ("libvirt pool", Libvirt(pool.Libvirt)),
    ];

    public static IEnumerable<(string, string)> Details(VolumeInfo volume) =>
    [
        ("Volume", $"{volume.Pool}/{volume.Name}"),
        ("Id", volume.Id),
        ("Size", $"{Show.Size(volume.SizeBytes)} ({volume.SizeBytes} bytes)"),
        ("Allocated", Show.Size(volume.AllocatedBytes)),
        ("Snapshots", Show.Count(volume.SnapshotCount)),
        ("State", volume.State),
        ("Created", Show.Time(volume.CreatedAt)),
    ];

    public static IEnumerable<(string, string)> Summary(StatusInfo status) =>
    [
        ("Node", status.Node),
        ("Version", status.Version),
        ("Stores", Show.Count(status.Stores.Count)),
        ("Pools", Show.Count(status.Pools.Count)),
        ("Volumes", Show.Count(status.VolumeCount)),
        ("Snapshots", Show.Count(status.SnapshotCount)),
        ("Capacity", Show.Size(status.Stores.Sum(s => s.CapacityBytes))),
        ("Free", Show.Size(status.Stores.Sum(s => s.FreeBytes))),
        ("Provisioned", Show.Size(status.ProvisionedBytes)),
        ("Allocated", Show.Size(status.AllocatedBytes)),
    ];
}
