using StoragePool.Core.Errors;

namespace StoragePool.Core.Naming;

/// <summary>
/// A volume named as <c>POOL/NAME</c>. Both names are checked when one is made (<see cref="Names"/>): this is the one
/// place where volume names are checked, so an operation never sees a name it cannot serve, whichever surface (REST,
/// D-Bus, FUSE, NBD, a transfer) it came from.
/// </summary>
public readonly record struct VolumeRef
{
    /// <exception cref="StoragePoolException"><see cref="ErrorCode.InvalidName"/>: either name breaks the rules.</exception>
    public VolumeRef(string? pool, string? name)
    {
        Pool = Names.Validate(NameKind.Pool, pool);
        Name = Names.Validate(NameKind.Volume, name);
    }

    public string Pool { get; }

    public string Name { get; }

    public static VolumeRef Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || text.Contains('@', StringComparison.Ordinal))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{text}' is not a volume; write it as POOL/NAME (for example 'vms/db1')");
        }
        return new VolumeRef(text[..slash], text[(slash + 1)..]);
    }

    public override string ToString() => $"{Pool}/{Name}";
}

/// <summary>A snapshot named as <c>POOL/NAME@SNAP</c>; its names are checked when one is made, as a <see cref="VolumeRef"/>'s are.</summary>
public readonly record struct SnapshotRef
{
    /// <exception cref="StoragePoolException"><see cref="ErrorCode.InvalidName"/>: a name breaks the rules.</exception>
    public SnapshotRef(string? pool, string? volume, string? name)
    {
        Pool = Names.Validate(NameKind.Pool, pool);
        Volume = Names.Validate(NameKind.Volume, volume);
        Name = Names.Validate(NameKind.Snapshot, name);
    }

    public SnapshotRef(VolumeRef volume, string? name)
        : this(volume.Pool, volume.Name, name)
    {
    }

    public string Pool { get; }

    public string Volume { get; }

    public string Name { get; }

    public VolumeRef VolumeRef => new(Pool, Volume);

    public static SnapshotRef Parse(string text)
    {
        var at = text.LastIndexOf('@');
        if (at < 0)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{text}' is not a snapshot; write it as POOL/NAME@SNAP (for example 'vms/db1@before-upgrade')");
        }
        return new SnapshotRef(VolumeRef.Parse(text[..at]), text[(at + 1)..]);
    }

    public override string ToString() => $"{Pool}/{Volume}@{Name}";
}
