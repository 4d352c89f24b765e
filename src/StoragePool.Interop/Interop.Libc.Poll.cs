using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct pollfd</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct PollFd
        {
            public int Fd;
            public short Events;
            public short REvents;
        }

        /// <summary><c>POLL*</c> bits for <see cref="PollFd"/>.</summary>
        internal static class PollEvents
        {
            internal const short In = 0x001;
            internal const short Out = 0x004;
            internal const short Error = 0x008;
            internal const short HangUp = 0x010;
        }

        internal const int EventFdCloseOnExec = 0x80000; // EFD_CLOEXEC
        internal const int EventFdNonBlocking = 0x800; // EFD_NONBLOCK

        /// <summary><c>poll(2)</c>; <paramref name="timeoutMs"/> -1 waits without a limit.</summary>
        [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
        internal static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

        /// <summary><c>eventfd(2)</c>: a counter to wake a poll loop from other threads. Close with <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/>.</summary>
        [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
        internal static partial int EventFd(uint initialValue, int flags);

        [LibraryImport(Lib, EntryPoint = "eventfd_read", SetLastError = true)]
        internal static partial int EventFdRead(SafeHandle fd, out ulong value);

        [LibraryImport(Lib, EntryPoint = "eventfd_write", SetLastError = true)]
        internal static partial int EventFdWrite(SafeHandle fd, ulong value);
    }
}
