using StoragePool.Core.Errors;

namespace StoragePool.Core.Naming;

/// <summary>A volume named as <c>POOL/NAME</c>.</summary>
public readonly record struct VolumeRef(string Pool, string Name)
{
    public static VolumeRef Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || text.Contains('@', StringComparison.Ordinal))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{text}' is not a volume; write it as POOL/NAME (for example 'vms/db1')");
        }
        return new VolumeRef(
            Names.Validate(NameKind.Pool, text[..slash]),
            Names.Validate(NameKind.Volume, text[(slash + 1)..]));
    }

    public override string ToString() => $"{Pool}/{Name}";
}

/// <summary>A snapshot named as <c>POOL/NAME@SNAP</c>.</summary>
public readonly record struct SnapshotRef(string Pool, string Volume, string Name)
{
    public VolumeRef VolumeRef => new(Pool, Volume);

    public static SnapshotRef Parse(string text)
    {
        var at = text.LastIndexOf('@');
        if (at < 0)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{text}' is not a snapshot; write it as POOL/NAME@SNAP (for example 'vms/db1@before-upgrade')");
        }
        var volume = VolumeRef.Parse(text[..at]);
        return new SnapshotRef(volume.Pool, volume.Name, Names.Validate(NameKind.Snapshot, text[(at + 1)..]));
    }

    public override string ToString() => $"{Pool}/{Volume}@{Name}";
}
