using System.Buffers.Binary;
using System.Text;

namespace StoragePool.Nbd.Protocol;

/// <summary>One transmission request: the 28-byte header (the magic is checked by the reader).</summary>
internal readonly record struct NbdRequest(NbdCommandFlags Flags, NbdCommand Command, ulong Handle, ulong Offset, uint Length);

/// <summary>An option request header; <see cref="Magic"/> must be <see cref="NbdMagic.Option"/>.</summary>
internal readonly record struct NbdOptionHeader(ulong Magic, NbdOption Option, uint Length);

/// <summary>An option reply header; <see cref="Magic"/> must be <see cref="NbdMagic.OptionReply"/>.</summary>
internal readonly record struct NbdOptionReplyHeader(ulong Magic, NbdOption Option, NbdOptionReply Reply, uint Length);

/// <summary>A structured reply chunk header (after its magic).</summary>
internal readonly record struct NbdChunkHeader(NbdReplyFlags Flags, NbdReplyType Type, ulong Handle, uint Length);

/// <summary>One <c>base:allocation</c> extent in a block status chunk.</summary>
internal readonly record struct NbdBlockDescriptor(uint Length, NbdAllocationFlags Flags);

/// <summary>
/// Encodes and decodes every NBD frame, big-endian, into caller-provided spans: no allocation except for
/// the strings of the handshake. The server and every client we write use these and nothing else.
/// </summary>
internal static class NbdCodec
{
    /// <summary>UTF-8 that throws on invalid bytes: the protocol's strings must be valid UTF-8.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // ---- handshake ----

    public static void WriteGreeting(Span<byte> destination, NbdHandshakeFlags flags)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.Init);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], NbdMagic.Option);
        BinaryPrimitives.WriteUInt16BigEndian(destination[16..], (ushort)flags);
    }

    /// <summary>Reads the server's greeting; false unless both magics are right.</summary>
    public static bool TryReadGreeting(ReadOnlySpan<byte> source, out NbdHandshakeFlags flags)
    {
        flags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(source[16..]);
        return BinaryPrimitives.ReadUInt64BigEndian(source) == NbdMagic.Init
            && BinaryPrimitives.ReadUInt64BigEndian(source[8..]) == NbdMagic.Option;
    }

    public static void WriteClientFlags(Span<byte> destination, uint flags) =>
        BinaryPrimitives.WriteUInt32BigEndian(destination, flags);

    public static uint ReadClientFlags(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt32BigEndian(source);

    public static void WriteOptionHeader(Span<byte> destination, NbdOption option, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.Option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], length);
    }

    public static NbdOptionHeader ReadOptionHeader(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt64BigEndian(source),
        (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[12..]));

    public static void WriteOptionReplyHeader(Span<byte> destination, NbdOption option, NbdOptionReply reply, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], (uint)reply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], length);
    }

    public static NbdOptionReplyHeader ReadOptionReplyHeader(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt64BigEndian(source),
        (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
        (NbdOptionReply)BinaryPrimitives.ReadUInt32BigEndian(source[12..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[16..]));

    public static bool IsError(this NbdOptionReply reply) => ((uint)reply & 0x80000000) != 0;

    /// <summary>The reply to NBD_OPT_EXPORT_NAME, without the optional 124 zero bytes.</summary>
    public static void WriteExportNameReply(Span<byte> destination, ulong size, NbdTransmissionFlags flags)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, size);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], (ushort)flags);
    }

    /// <summary>NBD_REP_SERVER payload: name length, name. Returns the bytes written.</summary>
    public static int WriteServerPayload(Span<byte> destination, string name)
    {
        var length = StrictUtf8.GetBytes(name, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
        return 4 + length;
    }

    public static bool TryReadServerPayload(ReadOnlySpan<byte> source, out string name)
    {
        name = "";
        if (source.Length < 4)
        {
            return false;
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(source);
        return length <= source.Length - 4 && TryDecodeString(source.Slice(4, (int)length), out name);
    }

    /// <summary>NBD_REP_INFO payload NBD_INFO_EXPORT: 12 bytes.</summary>
    public static int WriteInfoExport(Span<byte> destination, ulong size, NbdTransmissionFlags flags)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)NbdInfo.Export);
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], size);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)flags);
        return 12;
    }

    /// <summary>NBD_REP_INFO payload NBD_INFO_BLOCK_SIZE: 14 bytes.</summary>
    public static int WriteInfoBlockSize(Span<byte> destination, uint minimum, uint preferred, uint maximum)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)NbdInfo.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], minimum);
        BinaryPrimitives.WriteUInt32BigEndian(destination[6..], preferred);
        BinaryPrimitives.WriteUInt32BigEndian(destination[10..], maximum);
        return 14;
    }

    /// <summary>NBD_REP_INFO payload NBD_INFO_NAME or NBD_INFO_DESCRIPTION: type, string.</summary>
    public static int WriteInfoString(Span<byte> destination, NbdInfo type, string text)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)type);
        return 2 + StrictUtf8.GetBytes(text, destination[2..]);
    }

    public static NbdInfo ReadInfoType(ReadOnlySpan<byte> source) => (NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(source);

    /// <summary>Reads an NBD_INFO_EXPORT payload (12 bytes including the type).</summary>
    public static bool TryReadInfoExport(ReadOnlySpan<byte> source, out ulong size, out NbdTransmissionFlags flags)
    {
        size = 0;
        flags = NbdTransmissionFlags.None;
        if (source.Length != 12 || ReadInfoType(source) != NbdInfo.Export)
        {
            return false;
        }
        size = BinaryPrimitives.ReadUInt64BigEndian(source[2..]);
        flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(source[10..]);
        return true;
    }

    /// <summary>Reads an NBD_INFO_BLOCK_SIZE payload (14 bytes including the type).</summary>
    public static bool TryReadInfoBlockSize(ReadOnlySpan<byte> source, out uint minimum, out uint preferred, out uint maximum)
    {
        minimum = preferred = maximum = 0;
        if (source.Length != 14 || ReadInfoType(source) != NbdInfo.BlockSize)
        {
            return false;
        }
        minimum = BinaryPrimitives.ReadUInt32BigEndian(source[2..]);
        preferred = BinaryPrimitives.ReadUInt32BigEndian(source[6..]);
        maximum = BinaryPrimitives.ReadUInt32BigEndian(source[10..]);
        return true;
    }

    /// <summary>Bytes of an NBD_OPT_INFO / NBD_OPT_GO request.</summary>
    public static int InfoRequestSize(string name, int infoCount) => 4 + StrictUtf8.GetByteCount(name) + 2 + (2 * infoCount);

    /// <summary>NBD_OPT_INFO / NBD_OPT_GO data: name length, name, count, info types.</summary>
    public static int WriteInfoRequest(Span<byte> destination, string name, ReadOnlySpan<NbdInfo> requests)
    {
        var length = StrictUtf8.GetBytes(name, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
        var position = 4 + length;
        BinaryPrimitives.WriteUInt16BigEndian(destination[position..], (ushort)requests.Length);
        position += 2;
        foreach (var request in requests)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[position..], (ushort)request);
            position += 2;
        }
        return position;
    }

    /// <summary>
    /// Parses NBD_OPT_INFO / NBD_OPT_GO data. <paramref name="requested"/> has bit n set when information
    /// type n (below 32) was asked for; other types are ignored as the protocol says. False when the
    /// lengths do not add up or the name is not a valid string.
    /// </summary>
    public static bool TryReadInfoRequest(ReadOnlySpan<byte> source, out string name, out uint requested)
    {
        name = "";
        requested = 0;
        if (source.Length < 6)
        {
            return false;
        }
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (nameLength > (uint)(source.Length - 6) || !TryDecodeString(source.Slice(4, (int)nameLength), out name))
        {
            return false;
        }
        var rest = source[(4 + (int)nameLength)..];
        var count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length != 2 + (2 * count))
        {
            return false;
        }
        for (var i = 0; i < count; i++)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(rest[(2 + (2 * i))..]);
            if (type < 32)
            {
                requested |= 1u << type;
            }
        }
        return true;
    }

    /// <summary>Bytes of an NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT request.</summary>
    public static int MetaContextRequestSize(string exportName, IReadOnlyList<string> queries)
    {
        var size = 4 + StrictUtf8.GetByteCount(exportName) + 4;
        foreach (var query in queries)
        {
            size += 4 + StrictUtf8.GetByteCount(query);
        }
        return size;
    }

    public static int WriteMetaContextRequest(Span<byte> destination, string exportName, IReadOnlyList<string> queries)
    {
        var length = StrictUtf8.GetBytes(exportName, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
        var position = 4 + length;
        BinaryPrimitives.WriteUInt32BigEndian(destination[position..], (uint)queries.Count);
        position += 4;
        foreach (var query in queries)
        {
            length = StrictUtf8.GetBytes(query, destination[(position + 4)..]);
            BinaryPrimitives.WriteUInt32BigEndian(destination[position..], (uint)length);
            position += 4 + length;
        }
        return position;
    }

    /// <summary>Parses NBD_OPT_LIST/SET_META_CONTEXT data; false when a length runs past the data or a string is invalid.</summary>
    public static bool TryReadMetaContextRequest(ReadOnlySpan<byte> source, out string exportName, out List<string> queries)
    {
        exportName = "";
        queries = [];
        if (source.Length < 8)
        {
            return false;
        }
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (nameLength > (uint)(source.Length - 8) || !TryDecodeString(source.Slice(4, (int)nameLength), out exportName))
        {
            return false;
        }
        var rest = source[(4 + (int)nameLength)..];
        var count = BinaryPrimitives.ReadUInt32BigEndian(rest);
        rest = rest[4..];
        // each query takes at least its 4-byte length: a count beyond that is a lie
        if (count > (uint)rest.Length / 4)
        {
            return false;
        }
        for (var i = 0u; i < count; i++)
        {
            if (rest.Length < 4)
            {
                return false;
            }
            var length = BinaryPrimitives.ReadUInt32BigEndian(rest);
            if (length > (uint)(rest.Length - 4) || !TryDecodeString(rest.Slice(4, (int)length), out var query))
            {
                return false;
            }
            queries.Add(query);
            rest = rest[(4 + (int)length)..];
        }
        return rest.IsEmpty;
    }

    /// <summary>NBD_REP_META_CONTEXT payload: context id, name.</summary>
    public static int WriteMetaContext(Span<byte> destination, uint id, string name)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, id);
        return 4 + StrictUtf8.GetBytes(name, destination[4..]);
    }

    public static bool TryReadMetaContext(ReadOnlySpan<byte> source, out uint id, out string name)
    {
        id = 0;
        name = "";
        if (source.Length < 4)
        {
            return false;
        }
        id = BinaryPrimitives.ReadUInt32BigEndian(source);
        return TryDecodeString(source[4..], out name);
    }

    /// <summary>A protocol string: valid UTF-8, no NUL, at most 4096 bytes.</summary>
    public static bool TryDecodeString(ReadOnlySpan<byte> source, out string text)
    {
        text = "";
        if (source.Length > NbdLimits.MaxStringBytes || source.Contains((byte)0))
        {
            return false;
        }
        try
        {
            text = StrictUtf8.GetString(source);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    // ---- transmission ----

    public static void WriteRequest(Span<byte> destination, in NbdRequest request)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)request.Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)request.Command);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], request.Handle);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], request.Offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], request.Length);
    }

    /// <summary>Reads a 28-byte request header; <paramref name="magic"/> is what the client sent.</summary>
    public static NbdRequest ReadRequest(ReadOnlySpan<byte> source, out uint magic)
    {
        magic = BinaryPrimitives.ReadUInt32BigEndian(source);
        return new NbdRequest(
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[24..]));
    }

    /// <summary>The first 4 bytes of any reply: <see cref="NbdMagic.SimpleReply"/> or <see cref="NbdMagic.StructuredReply"/>.</summary>
    public static uint ReadReplyMagic(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt32BigEndian(source);

    public static void WriteSimpleReply(Span<byte> destination, NbdError error, ulong handle)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], handle);
    }

    /// <summary>Reads the 16-byte simple reply (magic already checked).</summary>
    public static (NbdError Error, ulong Handle) ReadSimpleReply(ReadOnlySpan<byte> source) => (
        (NbdError)BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
        BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public static void WriteChunkHeader(Span<byte> destination, NbdReplyFlags flags, NbdReplyType type, ulong handle, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], handle);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], length);
    }

    /// <summary>Reads the 20-byte chunk header (magic already checked).</summary>
    public static NbdChunkHeader ReadChunkHeader(ReadOnlySpan<byte> source) => new(
        (NbdReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
        (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
        BinaryPrimitives.ReadUInt64BigEndian(source[8..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[16..]));

    /// <summary>Sets or clears NBD_REPLY_FLAG_DONE in a chunk header already written.</summary>
    public static void SetChunkFlags(Span<byte> chunk, NbdReplyFlags flags) =>
        BinaryPrimitives.WriteUInt16BigEndian(chunk[4..], (ushort)flags);

    /// <summary>An OFFSET_DATA chunk header and its offset (28 bytes); the data follows.</summary>
    public static void WriteDataChunkHeader(Span<byte> destination, NbdReplyFlags flags, ulong handle, ulong offset, int dataLength)
    {
        WriteChunkHeader(destination, flags, NbdReplyType.OffsetData, handle, (uint)(8 + dataLength));
        BinaryPrimitives.WriteUInt64BigEndian(destination[NbdLimits.ChunkHeaderSize..], offset);
    }

    /// <summary>A whole OFFSET_HOLE chunk (32 bytes).</summary>
    public static void WriteHoleChunk(Span<byte> destination, NbdReplyFlags flags, ulong handle, ulong offset, uint size)
    {
        WriteChunkHeader(destination, flags, NbdReplyType.OffsetHole, handle, 12);
        BinaryPrimitives.WriteUInt64BigEndian(destination[NbdLimits.ChunkHeaderSize..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[(NbdLimits.ChunkHeaderSize + 8)..], size);
    }

    /// <summary>Reads an OFFSET_HOLE payload (12 bytes).</summary>
    public static (ulong Offset, uint Size) ReadHolePayload(ReadOnlySpan<byte> source) => (
        BinaryPrimitives.ReadUInt64BigEndian(source),
        BinaryPrimitives.ReadUInt32BigEndian(source[8..]));

    /// <summary>The offset at the start of an OFFSET_DATA payload.</summary>
    public static ulong ReadDataOffset(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt64BigEndian(source);

    /// <summary>
    /// A whole ERROR chunk with as much of <paramref name="message"/> as fits in <paramref name="destination"/>
    /// (and in the protocol's 4096-byte string limit), cut at a character boundary. Returns the bytes written.
    /// </summary>
    public static int WriteErrorChunk(Span<byte> destination, NbdReplyFlags flags, ulong handle, NbdError error, string message)
    {
        var room = Math.Min(destination.Length - NbdLimits.ChunkHeaderSize - NbdLimits.ErrorPayloadSize, NbdLimits.MaxStringBytes);
        var messageLength = 0;
        if (room >= 4 && message.Length > 0)
        {
            // lenient UTF-8: an exception's message may hold anything; a character that does not fit is left out whole
            var text = destination.Slice(NbdLimits.ChunkHeaderSize + NbdLimits.ErrorPayloadSize, room);
            Encoding.UTF8.GetEncoder().Convert(message, text, flush: true, out _, out messageLength, out _);
        }
        var payload = NbdLimits.ErrorPayloadSize + messageLength;
        WriteChunkHeader(destination, flags, NbdReplyType.Error, handle, (uint)payload);
        BinaryPrimitives.WriteUInt32BigEndian(destination[NbdLimits.ChunkHeaderSize..], (uint)error);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(NbdLimits.ChunkHeaderSize + 4)..], (ushort)messageLength);
        return NbdLimits.ChunkHeaderSize + payload;
    }

    /// <summary>Reads the common start of any error chunk payload: error and message.</summary>
    public static bool TryReadErrorPayload(ReadOnlySpan<byte> source, out NbdError error, out string message)
    {
        error = NbdError.None;
        message = "";
        if (source.Length < NbdLimits.ErrorPayloadSize)
        {
            return false;
        }
        error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(source);
        var length = BinaryPrimitives.ReadUInt16BigEndian(source[4..]);
        return length <= source.Length - NbdLimits.ErrorPayloadSize
            && TryDecodeString(source.Slice(NbdLimits.ErrorPayloadSize, length), out message);
    }

    /// <summary>The context id that starts a BLOCK_STATUS payload.</summary>
    public static void WriteBlockStatusContext(Span<byte> destination, uint contextId) =>
        BinaryPrimitives.WriteUInt32BigEndian(destination, contextId);

    public static void WriteBlockDescriptor(Span<byte> destination, NbdBlockDescriptor descriptor)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, descriptor.Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)descriptor.Flags);
    }

    /// <summary>Reads a BLOCK_STATUS payload: context id and descriptors; false when its length is not 4 + 8n, n ≥ 1.</summary>
    public static bool TryReadBlockStatus(ReadOnlySpan<byte> source, out uint contextId, out NbdBlockDescriptor[] descriptors)
    {
        contextId = 0;
        descriptors = [];
        if (source.Length < 12 || (source.Length - 4) % 8 != 0)
        {
            return false;
        }
        contextId = BinaryPrimitives.ReadUInt32BigEndian(source);
        descriptors = new NbdBlockDescriptor[(source.Length - 4) / 8];
        for (var i = 0; i < descriptors.Length; i++)
        {
            var at = source[(4 + (8 * i))..];
            descriptors[i] = new NbdBlockDescriptor(
                BinaryPrimitives.ReadUInt32BigEndian(at),
                (NbdAllocationFlags)BinaryPrimitives.ReadUInt32BigEndian(at[4..]));
        }
        return true;
    }
}
