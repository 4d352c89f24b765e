using System.Runtime.InteropServices;
using Libc = StoragePool.Interop.Interop.Libc;
using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary>
/// What every wrapper does around a libvirt call: silence libvirt's stderr printing once, and turn a
/// failure into a <see cref="LibvirtException"/> from the thread-local error the call left. Callers
/// check the result and build the exception right after the call, on the same thread, with no
/// await and no other libvirt call in between (every libvirt entry point resets the error). The
/// operation text is built after the call, so it must not call libvirt either: wrappers read object
/// names once, when they are made.
/// </summary>
internal static unsafe class LibvirtCalls
{
    private static readonly Lock QuietLock = new();
    private static bool _quiet;

    /// <summary>
    /// Installs a no-op process-wide error handler so libvirt does not print every error to stderr.
    /// Called by the entry points (<see cref="LibvirtConnection.Open"/>, <see cref="LibvirtEventLoop.Start"/>),
    /// not at assembly load, so that a host without libvirt0 can load this assembly.
    /// </summary>
    internal static void EnsureQuiet()
    {
        lock (QuietLock)
        {
            if (!_quiet)
            {
                Native.SetErrorFunc(0, &IgnoreError);
                _quiet = true;
            }
        }
    }

    /// <summary>The exception for the error the last libvirt call on this thread left.</summary>
    internal static LibvirtException LastError(string operation)
    {
        var error = Native.GetLastError();
        if (error == null)
        {
            return new LibvirtException(operation, LibvirtErrorCodes.InternalError, 0,
                "libvirt reported a failure but left no error");
        }
        var message = Marshal.PtrToStringUTF8(error->Message) ?? "libvirt gave no message";
        return new LibvirtException(operation, error->Code, error->Domain, message);
    }

    /// <summary>Throws for a negative result; returns it otherwise.</summary>
    internal static int Check(int result, string operation) =>
        result < 0 ? throw LastError(operation) : result;

    /// <summary>Throws when a call that returns an object returned NULL.</summary>
    internal static T Check<T>(T handle, string operation)
        where T : SafeHandle
    {
        if (handle.IsInvalid)
        {
            var error = LastError(operation);
            handle.Dispose();
            throw error;
        }
        return handle;
    }

    /// <summary>Throws when a call that returns an owned string returned NULL.</summary>
    internal static string Check(string? text, string operation) =>
        text ?? throw LastError(operation);

    /// <summary>A <c>const char*</c> libvirt lends (object names); NULL means the call failed.</summary>
    internal static string Borrowed(byte* text, string operation) =>
        Marshal.PtrToStringUTF8((nint)text) ?? throw LastError(operation);

    /// <summary>
    /// Takes an array libvirt malloc'ed (<c>virConnectListAllStoragePools</c>,
    /// <c>virStoragePoolListAllVolumes</c>): every element goes into a handle first, the array itself is
    /// freed with libc <c>free</c>, then <paramref name="wrap"/> makes the objects; if one fails, every
    /// handle is released.
    /// </summary>
    internal static T[] TakeArray<THandle, T>(nint array, int count, Func<nint, THandle> own, Func<THandle, T> wrap)
        where THandle : SafeHandle
    {
        var handles = new THandle[count];
        try
        {
            var elements = (nint*)array;
            for (var i = 0; i < count; i++)
            {
                handles[i] = own(elements[i]);
            }
        }
        finally
        {
            Libc.Free(array);
        }
        try
        {
            return Array.ConvertAll(handles, h => wrap(h));
        }
        catch
        {
            foreach (var handle in handles)
            {
                handle.Dispose();
            }
            throw;
        }
    }

    [UnmanagedCallersOnly]
    private static void IgnoreError(nint userData, Native.Error* error)
    {
    }
}
