using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Sizes;

namespace StoragePool.Core.Capacity;

/// <summary>
/// Whether a store may take more provisioned bytes (a new volume, a grow, a clone).
/// Two rules: the file system's free space must stay above the watermark, and the sum of
/// volume sizes may not pass capacity × over-commit ratio.
/// </summary>
public static class Admission
{
    public const double DefaultOvercommitRatio = 4.0;
    public const double DefaultWatermarkPercent = 5.0;

    public static void ValidatePolicy(double overcommitRatio, double watermarkPercent)
    {
        if (!double.IsFinite(overcommitRatio) || overcommitRatio < 1.0 || overcommitRatio > 100.0)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"over-commit ratio {overcommitRatio} is out of range; use a number from 1 (no over-commit) to 100");
        }
        if (!double.IsFinite(watermarkPercent) || watermarkPercent < 0 || watermarkPercent >= 100)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"free-space watermark {watermarkPercent}% is out of range; use a percentage from 0 to 99");
        }
    }

    /// <summary>Free bytes the store keeps in reserve.</summary>
    public static long WatermarkBytes(StoreRecord store, StoreUsage usage) =>
        (long)(usage.CapacityBytes * store.WatermarkPercent / 100.0);

    /// <summary>The most the store's volumes may add up to.</summary>
    public static long ProvisionLimit(StoreRecord store, StoreUsage usage) =>
        (long)Math.Min(long.MaxValue, usage.CapacityBytes * store.OvercommitRatio);

    /// <summary>
    /// What an admin should know of a store now, or null: free space under the watermark, or volumes provisioned to the
    /// over-commit limit. Either way new volumes, grows, snapshots and clones there are refused (<see cref="Check"/>).
    /// </summary>
    public static string? Warning(StoreRecord store, StoreUsage usage, long provisioned)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (usage.FreeBytes < WatermarkBytes(store, usage))
        {
            return $"{ByteSize.Format(usage.FreeBytes)} free, below the {store.WatermarkPercent}% watermark: " +
                "new volumes, grows, snapshots and clones are refused until space is freed";
        }
        return provisioned >= ProvisionLimit(store, usage)
            ? $"provisioned to its limit ({store.OvercommitRatio}× capacity): new volumes, grows, snapshots and clones are " +
              "refused until volumes are deleted or the over-commit ratio is raised"
            : null;
    }

    /// <summary>Throws <see cref="ErrorCode.NoSpace"/> when adding <paramref name="extraProvisioned"/> bytes is refused.</summary>
    /// <param name="provisioned">sum of the sizes of the store's volumes and snapshots now (a snapshot can come to hold as much as its volume).</param>
    /// <param name="extraAllocated">bytes the operation writes at once (a sparse copy), 0 for thin operations.</param>
    public static void Check(StoreRecord store, StoreUsage usage, long provisioned, long extraProvisioned,
        long extraAllocated, string what)
    {
        var watermark = WatermarkBytes(store, usage);
        if (usage.FreeBytes - extraAllocated < watermark)
        {
            throw new StoragePoolException(ErrorCode.NoSpace,
                $"store '{store.Name}' has {ByteSize.Format(usage.FreeBytes)} free, below its watermark of " +
                $"{ByteSize.Format(watermark)} ({store.WatermarkPercent}% of {ByteSize.Format(usage.CapacityBytes)}); " +
                $"cannot {what}: free space in the store or delete volumes and snapshots first");
        }
        var limit = ProvisionLimit(store, usage);
        if (extraProvisioned > 0 && provisioned + extraProvisioned > limit)
        {
            throw new StoragePoolException(ErrorCode.NoSpace,
                $"store '{store.Name}' would be provisioned to {ByteSize.Format(provisioned + extraProvisioned)}, over its limit of " +
                $"{ByteSize.Format(limit)} ({store.OvercommitRatio}× its capacity of {ByteSize.Format(usage.CapacityBytes)}); " +
                $"cannot {what}: use a smaller size, delete volumes, or raise the store's over-commit ratio");
        }
    }
}
