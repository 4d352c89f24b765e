using System.Runtime.InteropServices;
using System.Runtime.InteropServices.Marshalling;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>
    /// libvirt.so.0 (Debian's libvirt0): the public C API of include/libvirt/*.h, 9.0 on Debian 12.
    /// Every object pointer the caller owns travels as a <see cref="SafeHandle"/> released with the
    /// matching <c>vir*Free</c>/<c>virConnectClose</c>. <c>char*</c> results the caller owns are
    /// marshalled by <see cref="OwnedStringMarshaller"/> (copied, then released with libc <c>free</c>);
    /// <c>const char*</c> results are borrowed and returned as <c>byte*</c>. A failed call leaves its
    /// error in a thread-local <see cref="Error"/>: read it with <see cref="GetLastError"/> on the same
    /// OS thread before any other libvirt call (every public entry point resets it).
    /// </summary>
    internal static partial class Libvirt
    {
        private const string Lib = "libvirt.so.0";

        // virStoragePoolEventID and virStoragePoolEventLifecycleType
        internal const int StoragePoolEventIdLifecycle = 0;
        internal const int StoragePoolEventIdRefresh = 1;

        // virStorageXMLFlags
        internal const uint StorageXmlInactive = 1 << 0;

        // virDomainXMLFlags
        internal const uint DomainXmlInactive = 1 << 1;

        // virStreamFlags
        internal const uint StreamNonBlock = 1 << 0;

        /// <summary>virStreamSend/virStreamRecv on a non-blocking stream that would block.</summary>
        internal const int StreamWouldBlock = -2;

        /// <summary>struct _virError (virterror.h) on LP64: 80 bytes. Owned by libvirt; never freed by us.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Error
        {
            /// <summary>virErrorNumber.</summary>
            public int Code;

            /// <summary>virErrorDomain: the part of libvirt that raised the error.</summary>
            public int Domain;

            /// <summary>char*: the human-readable message.</summary>
            public nint Message;

            /// <summary>virErrorLevel: 0 none, 1 warning, 2 error.</summary>
            public int Level;

            /// <summary>virConnectPtr, deprecated: always read as a plain pointer, never used.</summary>
            public nint Connection;

            /// <summary>virDomainPtr, deprecated.</summary>
            public nint DomainObject;
            public nint Str1;
            public nint Str2;
            public nint Str3;
            public int Int1;
            public int Int2;

            /// <summary>virNetworkPtr, deprecated.</summary>
            public nint Network;
        }

        /// <summary>struct _virStoragePoolInfo (libvirt-storage.h).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct StoragePoolInfo
        {
            /// <summary>virStoragePoolState.</summary>
            public int State;
            public ulong Capacity;
            public ulong Allocation;
            public ulong Available;
        }

        /// <summary>struct _virStorageVolInfo (libvirt-storage.h).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct StorageVolInfo
        {
            /// <summary>virStorageVolType.</summary>
            public int Type;
            public ulong Capacity;
            public ulong Allocation;
        }

        // Errors

        /// <summary>The calling thread's last error, or null; valid until the next libvirt call on this thread.</summary>
        [LibraryImport(Lib, EntryPoint = "virGetLastError")]
        internal static unsafe partial Error* GetLastError();

        [LibraryImport(Lib, EntryPoint = "virResetLastError")]
        internal static partial void ResetLastError();

        /// <summary>Sets the process-wide handler libvirt calls for every error (its default prints to stderr).</summary>
        [LibraryImport(Lib, EntryPoint = "virSetErrorFunc")]
        internal static unsafe partial void SetErrorFunc(nint userData, delegate* unmanaged<nint, Error*, void> handler);

        // Connections

        [LibraryImport(Lib, EntryPoint = "virConnectOpen", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial ConnectHandle ConnectOpen(string name);

        /// <summary>Drops one reference; returns the references left, or -1.</summary>
        [LibraryImport(Lib, EntryPoint = "virConnectClose")]
        internal static partial int ConnectClose(nint conn);

        /// <summary>1 when the connection still reaches its daemon, 0 when it is gone (libvirtd stopped), -1 on error.</summary>
        [LibraryImport(Lib, EntryPoint = "virConnectIsAlive")]
        internal static partial int ConnectIsAlive(ConnectHandle conn);

        [LibraryImport(Lib, EntryPoint = "virConnectGetURI")]
        [return: MarshalUsing(typeof(OwnedStringMarshaller))]
        internal static partial string? ConnectGetUri(ConnectHandle conn);

        /// <summary>major * 1,000,000 + minor * 1,000 + release of the libvirt behind the connection.</summary>
        [LibraryImport(Lib, EntryPoint = "virConnectGetLibVersion")]
        internal static partial int ConnectGetLibVersion(ConnectHandle conn, out CULong libVer);

        // Storage pools

        /// <summary>
        /// Fills <paramref name="pools"/> with a malloc'ed array of the returned count of pool pointers, each
        /// owned by the caller (virStoragePoolFree), the array itself freed with libc <c>free</c>.
        /// </summary>
        [LibraryImport(Lib, EntryPoint = "virConnectListAllStoragePools")]
        internal static partial int ConnectListAllStoragePools(ConnectHandle conn, out nint pools, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolLookupByName", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial StoragePoolHandle StoragePoolLookupByName(ConnectHandle conn, string name);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolDefineXML", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial StoragePoolHandle StoragePoolDefineXml(ConnectHandle conn, string xmlDesc, uint flags);

        /// <summary>Starts (activates) a defined pool.</summary>
        [LibraryImport(Lib, EntryPoint = "virStoragePoolCreate")]
        internal static partial int StoragePoolCreate(StoragePoolHandle pool, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolDestroy")]
        internal static partial int StoragePoolDestroy(StoragePoolHandle pool);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolUndefine")]
        internal static partial int StoragePoolUndefine(StoragePoolHandle pool);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolFree")]
        internal static partial int StoragePoolFree(nint pool);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolSetAutostart")]
        internal static partial int StoragePoolSetAutostart(StoragePoolHandle pool, int autostart);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolGetAutostart")]
        internal static partial int StoragePoolGetAutostart(StoragePoolHandle pool, out int autostart);

        /// <summary>1 active, 0 inactive, -1 error.</summary>
        [LibraryImport(Lib, EntryPoint = "virStoragePoolIsActive")]
        internal static partial int StoragePoolIsActive(StoragePoolHandle pool);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolRefresh")]
        internal static partial int StoragePoolRefresh(StoragePoolHandle pool, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolGetXMLDesc")]
        [return: MarshalUsing(typeof(OwnedStringMarshaller))]
        internal static partial string? StoragePoolGetXmlDesc(StoragePoolHandle pool, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStoragePoolGetInfo")]
        internal static partial int StoragePoolGetInfo(StoragePoolHandle pool, out StoragePoolInfo info);

        /// <summary>Borrowed: valid while the pool object lives.</summary>
        [LibraryImport(Lib, EntryPoint = "virStoragePoolGetName")]
        internal static unsafe partial byte* StoragePoolGetName(StoragePoolHandle pool);

        /// <summary>For a pool pointer libvirt lends to a callback.</summary>
        [LibraryImport(Lib, EntryPoint = "virStoragePoolGetName")]
        internal static unsafe partial byte* StoragePoolGetName(nint pool);

        /// <summary>Like <see cref="ConnectListAllStoragePools"/>: an owned array of owned volume pointers.</summary>
        [LibraryImport(Lib, EntryPoint = "virStoragePoolListAllVolumes")]
        internal static partial int StoragePoolListAllVolumes(StoragePoolHandle pool, out nint vols, uint flags);

        // Storage volumes

        [LibraryImport(Lib, EntryPoint = "virStorageVolLookupByName", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial StorageVolHandle StorageVolLookupByName(StoragePoolHandle pool, string name);

        [LibraryImport(Lib, EntryPoint = "virStorageVolCreateXML", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial StorageVolHandle StorageVolCreateXml(StoragePoolHandle pool, string xmlDesc, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStorageVolDelete")]
        internal static partial int StorageVolDelete(StorageVolHandle vol, uint flags);

        [LibraryImport(Lib, EntryPoint = "virStorageVolFree")]
        internal static partial int StorageVolFree(nint vol);

        [LibraryImport(Lib, EntryPoint = "virStorageVolGetInfo")]
        internal static partial int StorageVolGetInfo(StorageVolHandle vol, out StorageVolInfo info);

        [LibraryImport(Lib, EntryPoint = "virStorageVolGetPath")]
        [return: MarshalUsing(typeof(OwnedStringMarshaller))]
        internal static partial string? StorageVolGetPath(StorageVolHandle vol);

        /// <summary>Borrowed: valid while the volume object lives.</summary>
        [LibraryImport(Lib, EntryPoint = "virStorageVolGetName")]
        internal static unsafe partial byte* StorageVolGetName(StorageVolHandle vol);

        /// <summary>The volume's connection, borrowed (no reference taken): valid while the volume object lives.</summary>
        [LibraryImport(Lib, EntryPoint = "virStorageVolGetConnect")]
        internal static partial nint StorageVolGetConnect(StorageVolHandle vol);

        [LibraryImport(Lib, EntryPoint = "virStorageVolResize")]
        internal static partial int StorageVolResize(StorageVolHandle vol, ulong capacity, uint flags);

        /// <summary>Starts an upload into the volume through <paramref name="stream"/>; <paramref name="length"/> 0 is "to the end".</summary>
        [LibraryImport(Lib, EntryPoint = "virStorageVolUpload")]
        internal static partial int StorageVolUpload(StorageVolHandle vol, StreamHandle stream, ulong offset, ulong length, uint flags);

        /// <summary>Starts a download of the volume through <paramref name="stream"/>; <paramref name="length"/> 0 is "to the end".</summary>
        [LibraryImport(Lib, EntryPoint = "virStorageVolDownload")]
        internal static partial int StorageVolDownload(StorageVolHandle vol, StreamHandle stream, ulong offset, ulong length, uint flags);

        // Streams

        [LibraryImport(Lib, EntryPoint = "virStreamNew")]
        internal static partial StreamHandle StreamNew(nint conn, uint flags);

        /// <summary>Bytes written (may be fewer than <paramref name="nbytes"/>), -1 error, -2 would block.</summary>
        [LibraryImport(Lib, EntryPoint = "virStreamSend")]
        internal static unsafe partial int StreamSend(StreamHandle stream, byte* data, nuint nbytes);

        /// <summary>Bytes read, 0 at the end of the stream, -1 error, -2 would block.</summary>
        [LibraryImport(Lib, EntryPoint = "virStreamRecv")]
        internal static unsafe partial int StreamRecv(StreamHandle stream, byte* data, nuint nbytes);

        [LibraryImport(Lib, EntryPoint = "virStreamFinish")]
        internal static partial int StreamFinish(StreamHandle stream);

        [LibraryImport(Lib, EntryPoint = "virStreamAbort")]
        internal static partial int StreamAbort(StreamHandle stream);

        [LibraryImport(Lib, EntryPoint = "virStreamFree")]
        internal static partial int StreamFree(nint stream);

        // Domains

        [LibraryImport(Lib, EntryPoint = "virDomainCreateXML", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial DomainHandle DomainCreateXml(ConnectHandle conn, string xmlDesc, uint flags);

        [LibraryImport(Lib, EntryPoint = "virDomainDefineXML", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial DomainHandle DomainDefineXml(ConnectHandle conn, string xml);

        [LibraryImport(Lib, EntryPoint = "virDomainLookupByName", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial DomainHandle DomainLookupByName(ConnectHandle conn, string name);

        [LibraryImport(Lib, EntryPoint = "virDomainDestroy")]
        internal static partial int DomainDestroy(DomainHandle domain);

        [LibraryImport(Lib, EntryPoint = "virDomainUndefine")]
        internal static partial int DomainUndefine(DomainHandle domain);

        [LibraryImport(Lib, EntryPoint = "virDomainFree")]
        internal static partial int DomainFree(nint domain);

        /// <summary><paramref name="flags"/>: virDomainModificationImpact (0 current, 1 live, 2 config).</summary>
        [LibraryImport(Lib, EntryPoint = "virDomainAttachDeviceFlags", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int DomainAttachDeviceFlags(DomainHandle domain, string xml, uint flags);

        [LibraryImport(Lib, EntryPoint = "virDomainGetXMLDesc")]
        [return: MarshalUsing(typeof(OwnedStringMarshaller))]
        internal static partial string? DomainGetXmlDesc(DomainHandle domain, uint flags);

        /// <summary>Borrowed: valid while the domain object lives.</summary>
        [LibraryImport(Lib, EntryPoint = "virDomainGetName")]
        internal static unsafe partial byte* DomainGetName(DomainHandle domain);

        // Events

        /// <summary>Installs libvirt's poll-based event loop; must precede virConnectOpen of connections that want events.</summary>
        [LibraryImport(Lib, EntryPoint = "virEventRegisterDefaultImpl")]
        internal static partial int EventRegisterDefaultImpl();

        /// <summary>Runs one iteration of the default event loop: blocks until a watch or timeout fires.</summary>
        [LibraryImport(Lib, EntryPoint = "virEventRunDefaultImpl")]
        internal static partial int EventRunDefaultImpl();

        /// <summary>
        /// A timer calling <paramref name="callback"/> every <paramref name="frequencyMs"/> ms (0: every loop
        /// iteration, -1: disabled). Returns the timer id, or -1.
        /// </summary>
        [LibraryImport(Lib, EntryPoint = "virEventAddTimeout")]
        internal static unsafe partial int EventAddTimeout(int frequencyMs, delegate* unmanaged<int, nint, void> callback,
            nint opaque, delegate* unmanaged<nint, void> freeCallback);

        /// <summary>Changes a timer's frequency; from another thread it also wakes the loop.</summary>
        [LibraryImport(Lib, EntryPoint = "virEventUpdateTimeout")]
        internal static partial void EventUpdateTimeout(int timer, int frequencyMs);

        [LibraryImport(Lib, EntryPoint = "virEventRemoveTimeout")]
        internal static partial int EventRemoveTimeout(int timer);

        /// <summary>
        /// Registers for pool events; returns the callback id, or -1 (then <paramref name="freeCallback"/> is not
        /// called and <paramref name="opaque"/> is still the caller's). C declares the callback as the generic
        /// <c>virConnectStoragePoolEventGenericCallback</c>; for <see cref="StoragePoolEventIdLifecycle"/> libvirt
        /// calls it with the lifecycle shape bound here: (conn, pool, event, detail, opaque), the pool borrowed.
        /// </summary>
        [LibraryImport(Lib, EntryPoint = "virConnectStoragePoolEventRegisterAny")]
        internal static unsafe partial int ConnectStoragePoolEventRegisterAny(ConnectHandle conn, nint pool, int eventId,
            delegate* unmanaged<nint, nint, int, int, nint, void> callback, nint opaque, delegate* unmanaged<nint, void> freeCallback);

        /// <summary>
        /// Takes the raw connection pointer: deregistering runs when the caller's reference keeps the
        /// connection alive though its handle may already be disposed.
        /// </summary>
        [LibraryImport(Lib, EntryPoint = "virConnectStoragePoolEventDeregisterAny")]
        internal static partial int ConnectStoragePoolEventDeregisterAny(nint conn, int callbackId);

        /// <summary>A <c>char*</c> result the caller owns: copied to a string, then released with libc <c>free</c>.</summary>
        [CustomMarshaller(typeof(string), MarshalMode.ManagedToUnmanagedOut, typeof(OwnedStringMarshaller))]
        internal static unsafe class OwnedStringMarshaller
        {
            public static string? ConvertToManaged(byte* unmanaged) => Marshal.PtrToStringUTF8((nint)unmanaged);

            public static void Free(byte* unmanaged) => Libc.Free((nint)unmanaged);
        }

        /// <summary>Owns one reference to a <c>virConnectPtr</c>; released with <c>virConnectClose</c>.</summary>
        internal sealed class ConnectHandle : SafeHandle
        {
            public ConnectHandle()
                : base(0, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle() => ConnectClose(handle) >= 0;
        }

        /// <summary>Owns a <c>virStoragePoolPtr</c>; released with <c>virStoragePoolFree</c>.</summary>
        internal sealed class StoragePoolHandle : SafeHandle
        {
            public StoragePoolHandle()
                : base(0, ownsHandle: true)
            {
            }

            /// <summary>Takes ownership of a pointer libvirt handed over (an element of a listed array).</summary>
            internal StoragePoolHandle(nint pool)
                : base(0, ownsHandle: true)
            {
                SetHandle(pool);
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle() => StoragePoolFree(handle) == 0;
        }

        /// <summary>Owns a <c>virStorageVolPtr</c>; released with <c>virStorageVolFree</c>.</summary>
        internal sealed class StorageVolHandle : SafeHandle
        {
            public StorageVolHandle()
                : base(0, ownsHandle: true)
            {
            }

            /// <summary>Takes ownership of a pointer libvirt handed over (an element of a listed array).</summary>
            internal StorageVolHandle(nint vol)
                : base(0, ownsHandle: true)
            {
                SetHandle(vol);
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle() => StorageVolFree(handle) == 0;
        }

        /// <summary>Owns a <c>virStreamPtr</c>; released with <c>virStreamFree</c> (finish or abort it first).</summary>
        internal sealed class StreamHandle : SafeHandle
        {
            public StreamHandle()
                : base(0, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle() => StreamFree(handle) == 0;
        }

        /// <summary>Owns a <c>virDomainPtr</c>; released with <c>virDomainFree</c>.</summary>
        internal sealed class DomainHandle : SafeHandle
        {
            public DomainHandle()
                : base(0, ownsHandle: true)
            {
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle() => DomainFree(handle) == 0;
        }
    }
}
