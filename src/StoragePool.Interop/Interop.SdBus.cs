using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>
    /// sd-bus from libsystemd.so.0. Only non-variadic calls are bound. An <c>sd_bus</c> and the
    /// messages it made are not thread-safe: one thread uses them and releases them.
    /// </summary>
    internal static partial class SdBus
    {
        private const string Lib = "libsystemd.so.0";

        internal const ulong NoTimeout = ulong.MaxValue;

        /// <summary><c>sd_bus_error</c>: borrowed name and message, never freed by us.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct BusError
        {
            public nint Name;
            public nint Message;
            public int NeedFree;
        }

        // Connections

        [LibraryImport(Lib, EntryPoint = "sd_bus_open_system")]
        internal static partial int OpenSystem(out BusHandle bus);

        [LibraryImport(Lib, EntryPoint = "sd_bus_request_name", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int RequestName(BusHandle bus, string name, ulong flags);

        [LibraryImport(Lib, EntryPoint = "sd_bus_get_unique_name")]
        internal static unsafe partial int GetUniqueName(BusHandle bus, out byte* name);

        [LibraryImport(Lib, EntryPoint = "sd_bus_get_fd")]
        internal static partial int GetFd(BusHandle bus);

        [LibraryImport(Lib, EntryPoint = "sd_bus_get_events")]
        internal static partial int GetEvents(BusHandle bus);

        /// <summary>Absolute CLOCK_MONOTONIC deadline in µs, or <see cref="NoTimeout"/>.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_get_timeout")]
        internal static partial int GetTimeout(BusHandle bus, out ulong timeoutUsec);

        /// <summary>Processes one pending item; 0 when there is nothing to do. Pass <c>0</c> for <paramref name="ret"/>.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_process")]
        internal static partial int Process(BusHandle bus, nint ret);

        [LibraryImport(Lib, EntryPoint = "sd_bus_send")]
        internal static partial int Send(BusHandle bus, MessageHandle message, nint cookie);

        /// <summary>Sends a method call; <paramref name="callback"/> gets the reply on the bus thread. With <paramref name="slot"/> 0 the slot is owned by the bus.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_call_async")]
        internal static unsafe partial int CallAsync(BusHandle bus, nint slot, MessageHandle message,
            delegate* unmanaged<nint, nint, nint, int> callback, nint userdata, ulong usec);

        [LibraryImport(Lib, EntryPoint = "sd_bus_close_unref")]
        private static partial nint CloseUnref(nint bus);

        // Objects

        /// <summary>Calls <paramref name="callback"/> for every method call to <paramref name="prefix"/> and every path below it.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_add_fallback", StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int AddFallback(BusHandle bus, out SlotHandle slot, string prefix,
            delegate* unmanaged<nint, nint, nint, int> callback, nint userdata);

        [LibraryImport(Lib, EntryPoint = "sd_bus_slot_unref")]
        private static partial nint SlotUnref(nint slot);

        // Messages

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_ref")]
        internal static partial nint MessageRef(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_unref")]
        private static partial nint MessageUnref(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_new_method_return")]
        internal static partial int MessageNewMethodReturn(MessageHandle call, out MessageHandle reply);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_new_signal", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MessageNewSignal(BusHandle bus, out MessageHandle message, string path, string @interface, string member);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_new_method_call", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MessageNewMethodCall(BusHandle bus, out MessageHandle message, string destination,
            string path, string @interface, string member);

        [LibraryImport(Lib, EntryPoint = "sd_bus_reply_method_error")]
        internal static partial int ReplyMethodError(MessageHandle call, in BusError error);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_path")]
        internal static partial nint MessageGetPath(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_interface")]
        internal static partial nint MessageGetInterface(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_member")]
        internal static partial nint MessageGetMember(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_sender")]
        internal static partial nint MessageGetSender(nint message);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_signature")]
        internal static partial nint MessageGetSignature(nint message, int complete);

        /// <summary>The error of a method error reply, or 0 for any other message.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_message_get_error")]
        internal static unsafe partial BusError* MessageGetError(nint message);

        /// <summary>Appends one basic value. For string types (s, o, g) <paramref name="value"/> is the NUL-terminated string itself.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_message_append_basic")]
        internal static unsafe partial int MessageAppendBasic(MessageHandle message, byte type, void* value);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_open_container", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MessageOpenContainer(MessageHandle message, byte type, string contents);

        [LibraryImport(Lib, EntryPoint = "sd_bus_message_close_container")]
        internal static partial int MessageCloseContainer(MessageHandle message);

        /// <summary>Reads one basic value; for string types <paramref name="value"/> receives a <c>const char*</c> owned by the message.</summary>
        [LibraryImport(Lib, EntryPoint = "sd_bus_message_read_basic")]
        internal static unsafe partial int MessageReadBasic(nint message, byte type, void* value);

        /// <summary>
        /// Owns one reference to an <c>sd_bus</c>; released with <c>sd_bus_close_unref</c>, which does not
        /// wait for queued messages (flush first, with a bound, if they matter).
        /// </summary>
        internal sealed class BusHandle : SafeHandle
        {
            public BusHandle()
                : base(0, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle()
            {
                CloseUnref(handle);
                return true;
            }
        }

        /// <summary>Owns one reference to an <c>sd_bus_message</c>.</summary>
        internal sealed class MessageHandle : SafeHandle
        {
            public MessageHandle()
                : base(0, ownsHandle: true)
            {
            }

            /// <summary>Takes a new reference to a message the caller borrows (the one a callback receives).</summary>
            public static MessageHandle AddRef(nint message)
            {
                var result = new MessageHandle();
                result.SetHandle(MessageRef(message));
                return result;
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle()
            {
                MessageUnref(handle);
                return true;
            }
        }

        /// <summary>Owns an <c>sd_bus_slot</c>: releasing it unregisters what it registered.</summary>
        internal sealed class SlotHandle : SafeHandle
        {
            public SlotHandle()
                : base(0, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle()
            {
                SlotUnref(handle);
                return true;
            }
        }
    }
}
