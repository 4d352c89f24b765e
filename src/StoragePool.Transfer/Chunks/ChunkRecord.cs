using System.Buffers.Binary;
using StoragePool.Core.Errors;

namespace StoragePool.Transfer.Chunks;

/// <summary>How a chunk's bytes travel.</summary>
public enum ChunkKind : byte
{
    /// <summary>The bytes as they are.</summary>
    Raw = 1,

    /// <summary>One zstd frame that decompresses to the chunk's length.</summary>
    Zstd = 2,

    /// <summary>No payload: the chunk reads as zeros (the receiver leaves or punches a hole).</summary>
    Zero = 3,
}

/// <summary>
/// One chunk on the wire or in a stream file: which chunk, how it travels, its length and the checksum of its
/// bytes (before compression), which the receiver verifies before it writes anything.
/// </summary>
public readonly record struct ChunkRecord(long Index, ChunkKind Kind, int Length, int PayloadLength, ChunkChecksum Checksum)
{
    /// <summary>Bytes of the binary header in a stream file: index u64, kind u8, 3 bytes zero, length u32, payload u32, checksum 16.</summary>
    public const int HeaderSize = 36;

    public void WriteTo(Span<byte> header)
    {
        BinaryPrimitives.WriteInt64BigEndian(header, Index);
        header[8] = (byte)Kind;
        header[9..12].Clear();
        BinaryPrimitives.WriteInt32BigEndian(header[12..], Length);
        BinaryPrimitives.WriteInt32BigEndian(header[16..], PayloadLength);
        Checksum.WriteTo(header[20..]);
    }

    public static ChunkRecord Read(ReadOnlySpan<byte> header)
    {
        var record = new ChunkRecord(
            BinaryPrimitives.ReadInt64BigEndian(header), (ChunkKind)header[8],
            BinaryPrimitives.ReadInt32BigEndian(header[12..]), BinaryPrimitives.ReadInt32BigEndian(header[16..]),
            ChunkChecksum.Read(header[20..]));
        return record;
    }

    /// <summary>
    /// Refuses a record that cannot belong to a volume cut into <paramref name="layout"/>'s chunks. The header's numbers
    /// are unsigned on the wire, and the messages show them so (never "-1 bytes").
    /// </summary>
    public void Validate(ChunkLayout layout)
    {
        string? problem = null;
        if (Index < 0 || Index >= layout.Count)
        {
            problem = $"chunk {(ulong)Index} is outside the volume's {layout.Count} chunks";
        }
        else if (Length != layout.LengthOf(Index))
        {
            problem = $"chunk {Index} says it is {(uint)Length} bytes; it is {layout.LengthOf(Index)}";
        }
        else if (Kind is not (ChunkKind.Raw or ChunkKind.Zstd or ChunkKind.Zero))
        {
            problem = $"chunk {Index} has unknown kind {(byte)Kind}";
        }
        else if (Kind == ChunkKind.Raw ? PayloadLength != Length
            : Kind == ChunkKind.Zero ? PayloadLength != 0
            : PayloadLength <= 0 || PayloadLength > Zstd.CompressBound(Length))
        {
            problem = $"chunk {Index} ({Kind}) has a payload of {(uint)PayloadLength} bytes, which does not fit its kind";
        }
        if (problem is not null)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, problem);
        }
    }
}

/// <summary>A volume of <see cref="VolumeSize"/> bytes cut into chunks of <see cref="ChunkSize"/> (the last may be shorter).</summary>
public readonly record struct ChunkLayout(long VolumeSize, int ChunkSize)
{
    public const int DefaultChunkSize = 4 << 20;
    public const int MinChunkSize = 64 << 10;
    public const int MaxChunkSize = 64 << 20;

    public long Count => (VolumeSize + ChunkSize - 1) / ChunkSize;

    public long OffsetOf(long index) => index * ChunkSize;

    public int LengthOf(long index) => (int)Math.Min(ChunkSize, VolumeSize - OffsetOf(index));

    public static ChunkLayout Create(long volumeSize, int chunkSize)
    {
        CheckChunkSize(chunkSize);
        return new ChunkLayout(volumeSize, chunkSize);
    }

    public static void CheckChunkSize(int chunkSize)
    {
        if (chunkSize < MinChunkSize || chunkSize > MaxChunkSize || (chunkSize & 4095) != 0)
        {
            throw new StoragePoolException(ErrorCode.InvalidSize,
                $"a chunk size of {chunkSize} bytes is not allowed: it must be whole 4 KiB blocks from 64 KiB to 64 MiB");
        }
    }
}
