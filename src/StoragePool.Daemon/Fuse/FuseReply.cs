using System.Runtime.InteropServices;
using Native = StoragePool.Interop.Interop.Native;

namespace StoragePool.Daemon.Fuse;

/// <summary>
/// Answers to FUSE requests, through the shim. An answer fails only when the kernel no longer waits for it (the
/// caller was interrupted); only open and create care, because their handle would then never be released.
/// </summary>
internal static unsafe class FuseReply
{
    public static void Error(ulong req, int errno) => _ = Native.FuseReplyErr(req, errno);

    public static void Ok(ulong req) => Error(req, 0);

    public static void Entry(ulong req, in Native.FuseAttr attr, double timeout)
    {
        fixed (Native.FuseAttr* a = &attr)
        {
            _ = Native.FuseReplyEntry(req, a, timeout);
        }
    }

    public static void Attr(ulong req, in Native.FuseAttr attr, double timeout)
    {
        fixed (Native.FuseAttr* a = &attr)
        {
            _ = Native.FuseReplyAttr(req, a, timeout);
        }
    }

    /// <returns>false when nobody took the handle.</returns>
    public static bool Open(ulong req, ulong handle, uint flags) => Native.FuseReplyOpen(req, handle, flags) == 0;

    /// <returns>false when nobody took the handle.</returns>
    public static bool Create(ulong req, in Native.FuseAttr attr, double timeout, ulong handle, uint flags)
    {
        fixed (Native.FuseAttr* a = &attr)
        {
            return Native.FuseReplyCreate(req, a, timeout, handle, flags) == 0;
        }
    }

    public static void Data(ulong req, ReadOnlySpan<byte> data)
    {
        fixed (byte* d = data)
        {
            _ = Native.FuseReplyBuf(req, d, (ulong)data.Length);
        }
    }

    public static void Written(ulong req, ulong count) => _ = Native.FuseReplyWrite(req, count);

    public static void Position(ulong req, long offset) => _ = Native.FuseReplyLSeek(req, offset);

    public static void XAttrSize(ulong req, ulong size) => _ = Native.FuseReplyXAttr(req, size);

    public static void StatFs(ulong req, ulong blockSize, ulong blocks, ulong free, ulong files, ulong nameMax) =>
        _ = Native.FuseReplyStatFs(req, blockSize, blocks, free, files, nameMax);

    /// <summary>
    /// Answers a readdir with the first of <paramref name="entries"/> that fit in <paramref name="size"/> bytes; each
    /// entry's <c>Offset</c> is the readdir offset that resumes the listing after it.
    /// </summary>
    public static void Directory(ulong req, IReadOnlyList<(ulong Ino, uint Mode, string Name, long Offset)> entries, ulong size)
    {
        var names = new nint[entries.Count];
        try
        {
            var dirents = new Native.FuseDirent[entries.Count];
            for (var i = 0; i < entries.Count; i++)
            {
                names[i] = Marshal.StringToCoTaskMemUTF8(entries[i].Name);
                dirents[i] = new Native.FuseDirent { Ino = entries[i].Ino, Off = entries[i].Offset, Mode = entries[i].Mode, Name = (byte*)names[i] };
            }
            fixed (Native.FuseDirent* first = dirents)
            {
                _ = Native.FuseReplyDir(req, first, (uint)dirents.Length, size);
            }
        }
        finally
        {
            foreach (var name in names)
            {
                Marshal.FreeCoTaskMem(name);
            }
        }
    }
}
