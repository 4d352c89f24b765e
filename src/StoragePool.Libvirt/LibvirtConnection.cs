using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary>
/// A connection to libvirt (<c>qemu:///system</c>, <c>test:///default</c>, …). Every method blocks for
/// the length of libvirt's call (a round trip to libvirtd for remote URIs): call them from a thread that
/// may block, not from an event loop. A connection may be used from several threads; libvirt serialises
/// what it must. Pools, volumes and domains it hands out are separate objects to dispose; they keep
/// libvirt's connection alive after this object is disposed.
/// </summary>
public sealed class LibvirtConnection : IDisposable
{
    private LibvirtConnection(Native.ConnectHandle handle, bool eventsRegistered)
    {
        Handle = handle;
        EventsRegistered = eventsRegistered;
    }

    internal Native.ConnectHandle Handle { get; }

    /// <summary>libvirt's event implementation was registered before this connection was opened.</summary>
    internal bool EventsRegistered { get; }

    /// <summary>Opens a read-write connection. For events, start <see cref="LibvirtEventLoop"/> first.</summary>
    public static LibvirtConnection Open(string uri)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(uri);
        LibvirtCalls.EnsureQuiet();
        var eventsRegistered = LibvirtEventLoop.IsDefaultImplementationRegistered;
        var handle = LibvirtCalls.Check(Native.ConnectOpen(uri), $"connecting to libvirt at '{uri}'");
        return new LibvirtConnection(handle, eventsRegistered);
    }

    /// <summary>The URI libvirt says this connection is to (the canonical form of what was opened).</summary>
    public string Uri => LibvirtCalls.Check(Native.ConnectGetUri(Handle), "reading the libvirt connection's URI");

    /// <summary>False once the daemon behind the connection has gone away (stopped, restarted): open a new one.</summary>
    public bool IsAlive => Native.ConnectIsAlive(Handle) == 1;

    /// <summary>The version of the libvirt library serving this connection (9.0.0 on Debian 12).</summary>
    public Version LibraryVersion
    {
        get
        {
            LibvirtCalls.Check(Native.ConnectGetLibVersion(Handle, out var version), "reading libvirt's version");
            var value = (long)version.Value;
            return new Version((int)(value / 1_000_000), (int)(value / 1_000 % 1_000), (int)(value % 1_000));
        }
    }

    /// <summary>Defines a persistent pool from its XML (see <see cref="PoolXml"/>); it starts inactive.</summary>
    public LibvirtPool DefinePool(string xml)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(xml);
        return new LibvirtPool(LibvirtCalls.Check(Native.StoragePoolDefineXml(Handle, xml, 0), "defining a storage pool"));
    }

    /// <summary>The pool named <paramref name="name"/>, or null when libvirt has none by that name.</summary>
    public LibvirtPool? LookupPool(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var handle = Native.StoragePoolLookupByName(Handle, name);
        if (handle.IsInvalid)
        {
            var error = LibvirtCalls.LastError($"looking up storage pool '{name}'");
            handle.Dispose();
            return error.LibvirtCode == LibvirtErrorCodes.NoStoragePool ? null : throw error;
        }
        return new LibvirtPool(handle);
    }

    /// <summary>Every pool, active or not. The caller disposes each.</summary>
    public IReadOnlyList<LibvirtPool> ListPools()
    {
        var count = LibvirtCalls.Check(Native.ConnectListAllStoragePools(Handle, out var array, 0), "listing storage pools");
        return LibvirtCalls.TakeArray(array, count, p => new Native.StoragePoolHandle(p), h => new LibvirtPool(h));
    }

    public void Dispose() => Handle.Dispose();
}
