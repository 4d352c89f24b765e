namespace StoragePool.Interop;

/// <summary>Buffers that O_DIRECT reads and writes can hand to the disk as they are (the storage layer's uncached writes).</summary>
internal static class AlignedBuffer
{
    /// <summary>What O_DIRECT asks of offsets, lengths and buffer addresses on the file systems used here.</summary>
    public const int Alignment = 4096;

    /// <summary>
    /// <paramref name="length"/> bytes starting at a multiple of <see cref="Alignment"/>, in an array on the pinned
    /// object heap (so the address holds); not cleared. Meant for buffers that live as long as a connection or a job.
    /// </summary>
    public static unsafe Memory<byte> Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var array = GC.AllocateUninitializedArray<byte>(length + Alignment, pinned: true);
        fixed (byte* start = array)
        {
            var skip = (int)((Alignment - ((nint)start & (Alignment - 1))) & (Alignment - 1));
            return array.AsMemory(skip, length);
        }
    }

    /// <summary>Whether a buffer at <paramref name="start"/> of <paramref name="length"/> bytes, bound for file offset
    /// <paramref name="offset"/>, is aligned as O_DIRECT wants: all three multiples of <see cref="Alignment"/>.</summary>
    public static unsafe bool IsAligned(byte* start, int length, long offset) =>
        ((nint)start & (Alignment - 1)) == 0 && (length & (Alignment - 1)) == 0 && (offset & (Alignment - 1)) == 0;
}
