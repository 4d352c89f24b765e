namespace StoragePool.Core.Extents;

/// <summary>A byte range of a volume that holds data (everything outside the extents reads as zeros).</summary>
public readonly record struct Extent(long Offset, long Length)
{
    public long End => Offset + Length;

    public override string ToString() => $"[{Offset}, {End})";
}

public static class ExtentList
{
    /// <summary>Sorts and merges touching or overlapping extents; drops empty ones.</summary>
    public static IReadOnlyList<Extent> Normalize(IEnumerable<Extent> extents)
    {
        var sorted = extents.Where(e => e.Length > 0).OrderBy(e => e.Offset).ToList();
        var merged = new List<Extent>(sorted.Count);
        foreach (var e in sorted)
        {
            if (merged.Count > 0 && merged[^1].End >= e.Offset)
            {
                var last = merged[^1];
                merged[^1] = new Extent(last.Offset, Math.Max(last.End, e.End) - last.Offset);
            }
            else
            {
                merged.Add(e);
            }
        }
        return merged;
    }

    public static long TotalLength(IEnumerable<Extent> extents) => extents.Sum(e => e.Length);
}
