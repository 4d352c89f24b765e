using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary><c>virStoragePoolState</c>.</summary>
public enum PoolState
{
    Inactive = 0,
    Building = 1,
    Running = 2,
    Degraded = 3,
    Inaccessible = 4,
}

/// <summary>What <c>virsh pool-info</c> shows: state and sizes in bytes.</summary>
public readonly record struct LibvirtPoolInfo(PoolState State, long Capacity, long Allocation, long Available);

/// <summary>
/// A libvirt storage pool (a reference to it: several objects may name the same pool). Methods block for
/// the length of libvirt's call; see <see cref="LibvirtConnection"/>.
/// </summary>
public sealed unsafe class LibvirtPool : IDisposable
{
    private readonly Native.StoragePoolHandle _handle;

    internal LibvirtPool(Native.StoragePoolHandle handle)
    {
        _handle = handle;
        // Read once: a pool's name never changes, and error messages must not call libvirt (that would
        // reset the error they report).
        Name = LibvirtCalls.Borrowed(Native.StoragePoolGetName(handle), "reading a storage pool's name");
    }

    public string Name { get; }

    public bool IsActive =>
        LibvirtCalls.Check(Native.StoragePoolIsActive(_handle), $"checking whether storage pool '{Name}' is active") == 1;

    /// <summary>Whether libvirtd starts the pool when it starts.</summary>
    public bool Autostart
    {
        get
        {
            LibvirtCalls.Check(Native.StoragePoolGetAutostart(_handle, out var autostart), $"reading autostart of storage pool '{Name}'");
            return autostart != 0;
        }
        set => LibvirtCalls.Check(Native.StoragePoolSetAutostart(_handle, value ? 1 : 0), $"setting autostart of storage pool '{Name}'");
    }

    /// <summary>Starts (activates) the pool: <c>virsh pool-start</c>.</summary>
    public void Start() => LibvirtCalls.Check(Native.StoragePoolCreate(_handle, 0), $"starting storage pool '{Name}'");

    /// <summary>Stops the pool; its definition and data stay: <c>virsh pool-destroy</c>.</summary>
    public void Destroy() => LibvirtCalls.Check(Native.StoragePoolDestroy(_handle), $"stopping storage pool '{Name}'");

    /// <summary>Removes the (inactive) pool's definition; its data stay: <c>virsh pool-undefine</c>.</summary>
    public void Undefine() => LibvirtCalls.Check(Native.StoragePoolUndefine(_handle), $"undefining storage pool '{Name}'");

    /// <summary>Rescans the pool's volumes (libvirt lists files that appeared behind its back only after this).</summary>
    public void Refresh() => LibvirtCalls.Check(Native.StoragePoolRefresh(_handle, 0), $"refreshing storage pool '{Name}'");

    /// <summary>The pool's XML; <paramref name="inactive"/> gives the definition used at next start.</summary>
    public string GetXml(bool inactive = false) =>
        LibvirtCalls.Check(Native.StoragePoolGetXmlDesc(_handle, inactive ? Native.StorageXmlInactive : 0),
            $"reading the XML of storage pool '{Name}'");

    public LibvirtPoolInfo GetInfo()
    {
        LibvirtCalls.Check(Native.StoragePoolGetInfo(_handle, out var info), $"reading storage pool '{Name}'");
        return new LibvirtPoolInfo((PoolState)info.State, (long)info.Capacity, (long)info.Allocation, (long)info.Available);
    }

    /// <summary>The volumes of the (active) pool. The caller disposes each.</summary>
    public IReadOnlyList<LibvirtVolume> ListVolumes()
    {
        var count = LibvirtCalls.Check(Native.StoragePoolListAllVolumes(_handle, out var array, 0),
            $"listing the volumes of storage pool '{Name}'");
        return LibvirtCalls.TakeArray(array, count, v => new Native.StorageVolHandle(v), h => new LibvirtVolume(h));
    }

    /// <summary>The volume named <paramref name="name"/> in this pool, or null when there is none.</summary>
    public LibvirtVolume? LookupVolume(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var handle = Native.StorageVolLookupByName(_handle, name);
        if (handle.IsInvalid)
        {
            var error = LibvirtCalls.LastError($"looking up volume '{name}'");
            handle.Dispose();
            return error.LibvirtCode == LibvirtErrorCodes.NoStorageVolume ? null : throw error;
        }
        return new LibvirtVolume(handle);
    }

    /// <summary>Creates a volume from its XML (<c>&lt;volume&gt;&lt;name&gt;…&lt;capacity&gt;…</c>) in the active pool.</summary>
    public LibvirtVolume CreateVolume(string xml)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(xml);
        return new LibvirtVolume(LibvirtCalls.Check(Native.StorageVolCreateXml(_handle, xml, 0),
            $"creating a volume in storage pool '{Name}'"));
    }

    public void Dispose() => _handle.Dispose();
}
