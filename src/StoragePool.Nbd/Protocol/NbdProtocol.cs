namespace StoragePool.Nbd.Protocol;

// The values of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md), written once for the server
// and for every client we write (tests, tools). README.md next to this file states the bytes.

/// <summary>Magic numbers; every field on the wire is big-endian.</summary>
internal static class NbdMagic
{
    /// <summary>'NBDMAGIC', first 8 bytes the server sends.</summary>
    public const ulong Init = 0x4e42444d41474943;

    /// <summary>'IHAVEOPT': second 8 bytes of the greeting and the start of every option request.</summary>
    public const ulong Option = 0x49484156454F5054;

    /// <summary>Start of every option reply.</summary>
    public const ulong OptionReply = 0x0003e889045565a9;

    public const uint Request = 0x25609513;

    public const uint SimpleReply = 0x67446698;

    public const uint StructuredReply = 0x668e33ef;
}

/// <summary>Handshake flags (server, 16 bits) and client flags (32 bits): the same two bits.</summary>
[Flags]
internal enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Transmission flags, sent with the export's size.</summary>
[Flags]
internal enum NbdTransmissionFlags : ushort
{
    None = 0,
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
}

internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    PeekExport = 4,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
    ExtendedHeaders = 11,
}

/// <summary>Option reply types; errors have bit 31 set.</summary>
internal enum NbdOptionReply : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,

    ErrUnsupported = 0x80000000 + 1,
    ErrPolicy = 0x80000000 + 2,
    ErrInvalid = 0x80000000 + 3,
    ErrPlatform = 0x80000000 + 4,
    ErrTlsRequired = 0x80000000 + 5,
    ErrUnknown = 0x80000000 + 6,
    ErrShutdown = 0x80000000 + 7,
    ErrBlockSizeRequired = 0x80000000 + 8,
    ErrTooBig = 0x80000000 + 9,
}

/// <summary>Information types of NBD_REP_INFO (and requests in NBD_OPT_INFO/GO).</summary>
internal enum NbdInfo : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

[Flags]
internal enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    RequestOne = 1 << 3,
    FastZero = 1 << 4,
}

[Flags]
internal enum NbdReplyFlags : ushort
{
    None = 0,
    Done = 1 << 0,
}

/// <summary>Structured reply chunk types; error chunks have bit 15 set.</summary>
internal enum NbdReplyType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = 0x8000 + 1,
    ErrorOffset = 0x8000 + 2,
}

/// <summary>The error values a reply may carry (not the host's errno: the protocol fixes them).</summary>
internal enum NbdError : uint
{
    None = 0,
    Perm = 1,
    IO = 5,
    NoMemory = 12,
    Invalid = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
}

/// <summary>Status flags of the <c>base:allocation</c> metadata context.</summary>
[Flags]
internal enum NbdAllocationFlags : uint
{
    None = 0,
    Hole = 1 << 0,
    Zero = 1 << 1,
}

/// <summary>Sizes and limits the protocol fixes.</summary>
internal static class NbdLimits
{
    /// <summary>Greeting: NBDMAGIC, IHAVEOPT, handshake flags.</summary>
    public const int GreetingSize = 8 + 8 + 2;

    public const int ClientFlagsSize = 4;

    /// <summary>Option request header: IHAVEOPT, option, length.</summary>
    public const int OptionHeaderSize = 8 + 4 + 4;

    /// <summary>Option reply header: magic, option, reply type, length.</summary>
    public const int OptionReplyHeaderSize = 8 + 4 + 4 + 4;

    /// <summary>Reply to NBD_OPT_EXPORT_NAME: size and transmission flags, then 124 zeroes unless NO_ZEROES.</summary>
    public const int ExportNameReplySize = 8 + 2;

    public const int ExportNameReplyPadding = 124;

    public const int RequestSize = 4 + 2 + 2 + 8 + 8 + 4;

    public const int SimpleReplySize = 4 + 4 + 8;

    public const int ChunkHeaderSize = 4 + 2 + 2 + 8 + 4;

    /// <summary>Chunk header plus the 8-byte offset that starts an OFFSET_DATA payload.</summary>
    public const int DataChunkHeaderSize = ChunkHeaderSize + 8;

    /// <summary>A whole OFFSET_HOLE chunk: header, offset, hole size.</summary>
    public const int HoleChunkSize = ChunkHeaderSize + 8 + 4;

    /// <summary>Error chunk payload before the message: error, message length.</summary>
    public const int ErrorPayloadSize = 4 + 2;

    /// <summary>Longest string (export name, message, context name) the protocol allows.</summary>
    public const int MaxStringBytes = 4096;

    /// <summary>A client that honours no block size advertisement may send reads and writes this large.</summary>
    public const int DefaultMaxPayload = 32 << 20;

    /// <summary>Reads of up to this many bytes must be served unfragmented when DF is asked.</summary>
    public const int MinUnfragmentedRead = 64 << 10;

    public const string BaseAllocation = "base:allocation";

    public const string BaseNamespace = "base:";
}

/// <summary>The spec's names for values, for log lines and error messages.</summary>
internal static class NbdNames
{
    public static string Of(NbdOption option) => option switch
    {
        NbdOption.ExportName => "NBD_OPT_EXPORT_NAME",
        NbdOption.Abort => "NBD_OPT_ABORT",
        NbdOption.List => "NBD_OPT_LIST",
        NbdOption.PeekExport => "NBD_OPT_PEEK_EXPORT",
        NbdOption.StartTls => "NBD_OPT_STARTTLS",
        NbdOption.Info => "NBD_OPT_INFO",
        NbdOption.Go => "NBD_OPT_GO",
        NbdOption.StructuredReply => "NBD_OPT_STRUCTURED_REPLY",
        NbdOption.ListMetaContext => "NBD_OPT_LIST_META_CONTEXT",
        NbdOption.SetMetaContext => "NBD_OPT_SET_META_CONTEXT",
        NbdOption.ExtendedHeaders => "NBD_OPT_EXTENDED_HEADERS",
        _ => $"option {(uint)option}",
    };

    public static string Of(NbdOptionReply reply) => reply switch
    {
        NbdOptionReply.Ack => "NBD_REP_ACK",
        NbdOptionReply.Server => "NBD_REP_SERVER",
        NbdOptionReply.Info => "NBD_REP_INFO",
        NbdOptionReply.MetaContext => "NBD_REP_META_CONTEXT",
        NbdOptionReply.ErrUnsupported => "NBD_REP_ERR_UNSUP",
        NbdOptionReply.ErrPolicy => "NBD_REP_ERR_POLICY",
        NbdOptionReply.ErrInvalid => "NBD_REP_ERR_INVALID",
        NbdOptionReply.ErrPlatform => "NBD_REP_ERR_PLATFORM",
        NbdOptionReply.ErrTlsRequired => "NBD_REP_ERR_TLS_REQD",
        NbdOptionReply.ErrUnknown => "NBD_REP_ERR_UNKNOWN",
        NbdOptionReply.ErrShutdown => "NBD_REP_ERR_SHUTDOWN",
        NbdOptionReply.ErrBlockSizeRequired => "NBD_REP_ERR_BLOCK_SIZE_REQD",
        NbdOptionReply.ErrTooBig => "NBD_REP_ERR_TOO_BIG",
        _ => $"reply 0x{(uint)reply:x8}",
    };

    public static string Of(NbdCommand command) => command switch
    {
        NbdCommand.Read => "NBD_CMD_READ",
        NbdCommand.Write => "NBD_CMD_WRITE",
        NbdCommand.Disconnect => "NBD_CMD_DISC",
        NbdCommand.Flush => "NBD_CMD_FLUSH",
        NbdCommand.Trim => "NBD_CMD_TRIM",
        NbdCommand.Cache => "NBD_CMD_CACHE",
        NbdCommand.WriteZeroes => "NBD_CMD_WRITE_ZEROES",
        NbdCommand.BlockStatus => "NBD_CMD_BLOCK_STATUS",
        _ => $"command {(ushort)command}",
    };

    public static string Of(NbdError error) => error switch
    {
        NbdError.None => "success",
        NbdError.Perm => "NBD_EPERM",
        NbdError.IO => "NBD_EIO",
        NbdError.NoMemory => "NBD_ENOMEM",
        NbdError.Invalid => "NBD_EINVAL",
        NbdError.NoSpace => "NBD_ENOSPC",
        NbdError.Overflow => "NBD_EOVERFLOW",
        NbdError.NotSupported => "NBD_ENOTSUP",
        NbdError.Shutdown => "NBD_ESHUTDOWN",
        _ => $"error {(uint)error}",
    };
}
