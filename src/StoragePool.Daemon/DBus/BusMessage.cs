using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using SdBus = StoragePool.Interop.Interop.SdBus;

namespace StoragePool.Daemon.DBus;

/// <summary>An sd-bus call that failed, with the library's own words for the errno.</summary>
internal sealed class DBusException : Exception
{
    public DBusException(string operation, int result)
        : base($"{operation} failed: {Marshal.GetPInvokeErrorMessage(-result)} (errno {-result})")
    {
        Errno = -result;
    }

    public DBusException()
    {
    }

    public DBusException(string message)
        : base(message)
    {
    }

    public DBusException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int Errno { get; }

    public static int Check(int result, string operation) =>
        result < 0 ? throw new DBusException(operation, result) : result;
}

/// <summary>Appends D-Bus values to a message under construction. Use on the bus thread only.</summary>
internal readonly struct MessageWriter
{
    private readonly SdBus.MessageHandle _message;

    public MessageWriter(SdBus.MessageHandle message)
    {
        _message = message;
    }

    public void String(string value) => AppendString((byte)'s', value);

    public void ObjectPath(string value) => AppendString((byte)'o', value);

    public unsafe void UInt64(ulong value) => Append((byte)'t', &value);

    /// <summary>A size or count that is never negative on the wire (t).</summary>
    public void Bytes(long value) => UInt64(value < 0 ? 0 : (ulong)value);

    public unsafe void UInt32(uint value) => Append((byte)'u', &value);

    /// <summary>A count as u.</summary>
    public void Count(int value) => UInt32(value < 0 ? 0 : (uint)value);

    public unsafe void Double(double value) => Append((byte)'d', &value);

    public unsafe void Boolean(bool value)
    {
        var b = value ? 1 : 0;
        Append((byte)'b', &b);
    }

    /// <summary>A timestamp as t: microseconds since the Unix epoch, as systemd writes them.</summary>
    public void Timestamp(DateTimeOffset value) =>
        Bytes((value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond);

    public void OpenArray(string elementSignature) => Open((byte)'a', elementSignature);

    public void OpenStruct(string contents) => Open((byte)'r', contents);

    public void OpenDictEntry(string contents) => Open((byte)'e', contents);

    public void OpenVariant(string contents) => Open((byte)'v', contents);

    public void Close() =>
        DBusException.Check(SdBus.MessageCloseContainer(_message), "sd_bus_message_close_container");

    public void StringArray(IEnumerable<string> values)
    {
        OpenArray("s");
        foreach (var value in values)
        {
            String(value);
        }
        Close();
    }

    public void ObjectPathArray(IEnumerable<string> values)
    {
        OpenArray("o");
        foreach (var value in values)
        {
            ObjectPath(value);
        }
        Close();
    }

    /// <summary>One <c>{sv}</c> entry of an <c>a{sv}</c>.</summary>
    public void DictEntry(string key, string valueSignature, Action<MessageWriter> writeValue)
    {
        OpenDictEntry("sv");
        String(key);
        OpenVariant(valueSignature);
        writeValue(this);
        Close();
        Close();
    }

    private void Open(byte type, string contents) =>
        DBusException.Check(SdBus.MessageOpenContainer(_message, type, contents), "sd_bus_message_open_container");

    private unsafe void Append(byte type, void* value) =>
        DBusException.Check(SdBus.MessageAppendBasic(_message, type, value), "sd_bus_message_append_basic");

    private unsafe void AppendString(byte type, string value)
    {
        // D-Bus strings end at NUL and must be UTF-8: the encoder replaces lone surrogates.
        var length = Encoding.UTF8.GetMaxByteCount(value.Length) + 1;
        var rented = length > 512 ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> buffer = rented is not null ? rented : stackalloc byte[length];
        try
        {
            var written = Encoding.UTF8.GetBytes(value.Replace('\0', ' '), buffer);
            buffer[written] = 0;
            fixed (byte* p = buffer)
            {
                Append(type, p);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}

/// <summary>The arguments of a method call, read on the bus thread when the call arrives.</summary>
internal sealed class MessageArguments
{
    private readonly object[] _values;

    private MessageArguments(object[] values)
    {
        _values = values;
    }

    public static MessageArguments Empty { get; } = new([]);

    public int Count => _values.Length;

    public string String(int index) => (string)_values[index];

    public ulong UInt64(int index) => (ulong)_values[index];

    public bool Boolean(int index) => (bool)_values[index];

    public double Double(int index) => (double)_values[index];

    public uint UInt32(int index) => (uint)_values[index];

    /// <summary>Reads values whose types are the basic types in <paramref name="signature"/> (s, o, g, t, x, u, i, b, d, y).</summary>
    public static unsafe MessageArguments Read(nint message, string signature)
    {
        var values = new object[signature.Length];
        for (var i = 0; i < signature.Length; i++)
        {
            var type = (byte)signature[i];
            switch (signature[i])
            {
                case 's' or 'o' or 'g':
                    byte* text = null;
                    Check(SdBus.MessageReadBasic(message, type, &text));
                    values[i] = Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;
                    break;
                case 't' or 'x':
                    ulong u64 = 0;
                    Check(SdBus.MessageReadBasic(message, type, &u64));
                    values[i] = signature[i] == 't' ? u64 : (object)unchecked((long)u64);
                    break;
                case 'u' or 'i':
                    uint u32 = 0;
                    Check(SdBus.MessageReadBasic(message, type, &u32));
                    values[i] = signature[i] == 'u' ? u32 : (object)unchecked((int)u32);
                    break;
                case 'b':
                    var b = 0;
                    Check(SdBus.MessageReadBasic(message, type, &b));
                    values[i] = b != 0;
                    break;
                case 'd':
                    double d = 0;
                    Check(SdBus.MessageReadBasic(message, type, &d));
                    values[i] = d;
                    break;
                case 'y':
                    byte y = 0;
                    Check(SdBus.MessageReadBasic(message, type, &y));
                    values[i] = y;
                    break;
                default:
                    throw new ArgumentException($"type '{signature[i]}' is not a basic type", nameof(signature));
            }
        }
        return new MessageArguments(values);

        static void Check(int result) => DBusException.Check(result, "sd_bus_message_read_basic");
    }
}

/// <summary>Header fields of a message that sd-bus lends during a callback.</summary>
internal static class BorrowedMessage
{
    public static string? Path(nint message) => Marshal.PtrToStringUTF8(SdBus.MessageGetPath(message));

    public static string? Interface(nint message) => Marshal.PtrToStringUTF8(SdBus.MessageGetInterface(message));

    public static string? Member(nint message) => Marshal.PtrToStringUTF8(SdBus.MessageGetMember(message));

    public static string? Sender(nint message) => Marshal.PtrToStringUTF8(SdBus.MessageGetSender(message));

    public static string Signature(nint message) => Marshal.PtrToStringUTF8(SdBus.MessageGetSignature(message, 1)) ?? string.Empty;

    /// <summary>The name and message of an error reply, or null for any other message.</summary>
    public static unsafe (string Name, string Message)? Error(nint message)
    {
        var error = SdBus.MessageGetError(message);
        if (error is null || error->Name == 0)
        {
            return null;
        }
        return (Marshal.PtrToStringUTF8(error->Name) ?? string.Empty, Marshal.PtrToStringUTF8(error->Message) ?? string.Empty);
    }
}
