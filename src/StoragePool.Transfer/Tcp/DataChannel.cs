using System.Buffers.Binary;
using System.Text;
using StoragePool.Core.Errors;

namespace StoragePool.Transfer.Tcp;

/// <summary>
/// Framing of the transfer data channel (README.md, "Data channel"): a hello that names the transfer and carries the
/// token, then chunk frames (a chunk record's header and its payload) each answered by an acknowledgement.
/// </summary>
public static class DataChannel
{
    public static readonly byte[] Magic = "SPXFER01"u8.ToArray();

    /// <summary>Longest token or transfer id a hello may carry.</summary>
    public const int MaxField = 256;

    /// <summary>Longest error message in an acknowledgement.</summary>
    public const int MaxMessage = 4096;

    /// <summary>Bytes of an acknowledgement before its message: chunk index (i64), error code (i32, 0 = written), message length (i32).</summary>
    public const int AckHeaderSize = 16;

    public static byte[] EncodeHello(string token, string transferId)
    {
        var t = Encoding.UTF8.GetBytes(token);
        var id = Encoding.UTF8.GetBytes(transferId);
        var bytes = new byte[Magic.Length + 8 + t.Length + id.Length];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), t.Length);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), id.Length);
        t.CopyTo(bytes, 16);
        id.CopyTo(bytes, 16 + t.Length);
        return bytes;
    }

    /// <summary>Reads a hello: (token, transfer id). Throws InvalidArgument on anything else.</summary>
    public static async Task<(byte[] Token, string TransferId)> ReadHelloAsync(Stream stream, CancellationToken ct)
    {
        var head = new byte[16];
        await stream.ReadExactlyAsync(head, ct);
        var tokenLength = BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(8));
        var idLength = BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(12));
        if (!head.AsSpan(0, 8).SequenceEqual(Magic) || tokenLength is < 0 or > MaxField || idLength is < 1 or > MaxField)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, "not a StoragePool transfer hello");
        }
        var rest = new byte[tokenLength + idLength];
        await stream.ReadExactlyAsync(rest, ct);
        return (rest[..tokenLength], Encoding.UTF8.GetString(rest, tokenLength, idLength));
    }

    public static byte[] EncodeAck(long index, ErrorCode? error, string? message)
    {
        var text = Encoding.UTF8.GetBytes(message ?? string.Empty);
        if (text.Length > MaxMessage)
        {
            text = text[..MaxMessage];
        }
        var bytes = new byte[AckHeaderSize + text.Length];
        BinaryPrimitives.WriteInt64BigEndian(bytes, index);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), error is { } e ? (int)e : 0);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), text.Length);
        text.CopyTo(bytes, AckHeaderSize);
        return bytes;
    }

    /// <summary>Reads an acknowledgement; throws the receiver's error when it is one.</summary>
    public static async Task ReadAckAsync(Stream stream, long expectedIndex, byte[] scratch, CancellationToken ct)
    {
        await stream.ReadExactlyAsync(scratch.AsMemory(0, AckHeaderSize), ct);
        var index = BinaryPrimitives.ReadInt64BigEndian(scratch);
        var code = BinaryPrimitives.ReadInt32BigEndian(scratch.AsSpan(8));
        var length = BinaryPrimitives.ReadInt32BigEndian(scratch.AsSpan(12));
        if (length is < 0 or > MaxMessage)
        {
            throw new StoragePoolException(ErrorCode.PeerUnavailable, "the receiver sent a malformed acknowledgement");
        }
        var message = new byte[length];
        await stream.ReadExactlyAsync(message, ct);
        if (code != 0)
        {
            var errorCode = Enum.IsDefined(typeof(ErrorCode), code) ? (ErrorCode)code : ErrorCode.Internal;
            throw new StoragePoolException(errorCode, Encoding.UTF8.GetString(message));
        }
        if (index != expectedIndex)
        {
            throw new StoragePoolException(ErrorCode.PeerUnavailable, $"the receiver acknowledged chunk {index}, not {expectedIndex}");
        }
    }
}
