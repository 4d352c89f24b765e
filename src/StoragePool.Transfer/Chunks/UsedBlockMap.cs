using StoragePool.Core.Extents;
using StoragePool.Storage.IO;

namespace StoragePool.Transfer.Chunks;

/// <summary>
/// Where a volume holds data, from the store's extent map through the I/O core (SEEK_DATA/SEEK_HOLE on the file
/// store; a thin-LVM store answers from its metadata): only these ranges are ever read.
/// </summary>
public sealed class UsedBlockMap
{
    private readonly Extent[] _extents;

    public UsedBlockMap(IEnumerable<Extent> extents)
    {
        _extents = [.. ExtentList.Normalize(extents)];
        DataBytes = _extents.Sum(e => e.Length);
    }

    /// <summary>Bytes in allocated ranges: what a transfer reads.</summary>
    public long DataBytes { get; }

    public IReadOnlyList<Extent> Extents => _extents;

    public static async Task<UsedBlockMap> ReadAsync(IBlockVolume volume, CancellationToken ct)
    {
        var extents = new List<Extent>();
        var offset = 0L;
        while (offset < volume.Size)
        {
            var runs = await volume.GetBlockStatusAsync(offset, volume.Size - offset, ct);
            if (runs.Count == 0)
            {
                throw new InvalidOperationException($"{volume.Name} gave no block status at {offset}");
            }
            foreach (var run in runs)
            {
                if (!run.Zero)
                {
                    extents.Add(new Extent(run.Offset, run.Length));
                }
                offset = run.Offset + run.Length;
            }
        }
        return new UsedBlockMap(extents);
    }

    /// <summary>The data ranges inside chunk <paramref name="index"/>, relative to the chunk's start; empty when it is all hole.</summary>
    public void RangesIn(ChunkLayout layout, long index, List<Extent> ranges)
    {
        ranges.Clear();
        var start = layout.OffsetOf(index);
        var end = start + layout.LengthOf(index);
        var i = FirstEndingAfter(start);
        for (; i < _extents.Length && _extents[i].Offset < end; i++)
        {
            var from = Math.Max(start, _extents[i].Offset);
            var to = Math.Min(end, _extents[i].End);
            ranges.Add(new Extent(from - start, to - from));
        }
    }

    /// <summary>Indexes of the chunks that hold any data, in order.</summary>
    public IEnumerable<long> ChunksWithData(ChunkLayout layout)
    {
        var last = -1L;
        foreach (var extent in _extents)
        {
            var first = Math.Max(extent.Offset / layout.ChunkSize, last + 1);
            var end = (extent.End - 1) / layout.ChunkSize;
            for (var index = first; index <= end; index++)
            {
                yield return index;
            }
            last = Math.Max(last, end);
        }
    }

    private int FirstEndingAfter(long offset)
    {
        int lo = 0, hi = _extents.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_extents[mid].End <= offset)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
