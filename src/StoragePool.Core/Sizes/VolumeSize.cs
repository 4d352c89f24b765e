using StoragePool.Core.Errors;

namespace StoragePool.Core.Sizes;

/// <summary>Volume sizes are whole 4 KiB blocks; anything else is rounded up, and the caller is told.</summary>
public static class VolumeSize
{
    public const long BlockSize = 4096;

    /// <summary>The largest volume: 1 PiB keeps offsets and sums far from overflow.</summary>
    public const long Max = ByteSize.PiB;

    /// <summary>Rounds <paramref name="requested"/> up to a whole block; <c>Note</c> says so when it did.</summary>
    /// <param name="allowEmpty">0 bytes is a size (a volume file that was just created, or truncated to nothing).</param>
    public static (long Bytes, string? Note) Normalize(long requested, bool allowEmpty = false)
    {
        if (requested < 0 || (requested == 0 && !allowEmpty))
        {
            throw new StoragePoolException(ErrorCode.InvalidSize,
                $"volume size must be greater than zero (got {requested} bytes)");
        }
        if (requested > Max)
        {
            throw new StoragePoolException(ErrorCode.InvalidSize,
                $"volume size {ByteSize.Format(requested)} is larger than the limit of {ByteSize.Format(Max)}");
        }
        var rounded = (requested + BlockSize - 1) / BlockSize * BlockSize;
        return rounded == requested
            ? (rounded, null)
            : (rounded, $"size {requested} bytes rounded up to {rounded} bytes ({ByteSize.Format(rounded)}): volumes are multiples of 4 KiB");
    }
}
