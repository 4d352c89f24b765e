using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using StoragePool.Core.Errors;
using StoragePool.Interop;

namespace StoragePool.Transfer.Chunks;

/// <summary>XXH3-128 of a chunk's bytes (libxxhash). Written as 32 hex digits, high half first, as xxhsum does.</summary>
public readonly record struct ChunkChecksum(ulong High, ulong Low)
{
    public const int Size = 16;

    private static readonly ConcurrentDictionary<int, ChunkChecksum> ZeroChecksums = new();

    public static unsafe ChunkChecksum Of(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var hash = Interop.Interop.XxHash.Xxh3Hash128(p, (nuint)data.Length);
            return new ChunkChecksum(hash.High64, hash.Low64);
        }
    }

    /// <summary>The checksum of <paramref name="length"/> zero bytes (a hole or a zero chunk); computed once per length.</summary>
    public static ChunkChecksum OfZeros(int length) =>
        ZeroChecksums.GetOrAdd(length, static n => Of(new byte[n]));

    /// <summary>The whole-volume digest: XXH3-128 over every chunk's checksum in order.</summary>
    public static ChunkChecksum Digest(ReadOnlySpan<ChunkChecksum> checksums)
    {
        var bytes = new byte[checksums.Length * Size];
        for (var i = 0; i < checksums.Length; i++)
        {
            checksums[i].WriteTo(bytes.AsSpan(i * Size, Size));
        }
        return Of(bytes);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public static ChunkChecksum Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public override string ToString() => $"{High:x16}{Low:x16}";

    public static ChunkChecksum Parse(string hex)
    {
        if (hex is not { Length: 32 }
            || !ulong.TryParse(hex.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high)
            || !ulong.TryParse(hex.AsSpan(16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{hex}' is not a chunk checksum (32 hex digits)");
        }
        return new ChunkChecksum(high, low);
    }
}
