using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary><c>virDomainModificationImpact</c>: which state of a domain a device change applies to.</summary>
[Flags]
public enum DeviceChangeScope
{
    /// <summary>The running domain if it runs, else its persistent definition.</summary>
    Current = 0,

    /// <summary>The running domain (hot-plug).</summary>
    Live = 1 << 0,

    /// <summary>The persistent definition, used at next start.</summary>
    Config = 1 << 1,
}

/// <summary>
/// A libvirt domain (virtual machine). Methods block for the length of libvirt's call (starting a QEMU
/// domain takes seconds); see <see cref="LibvirtConnection"/>.
/// </summary>
public sealed unsafe class LibvirtDomain : IDisposable
{
    private readonly Native.DomainHandle _handle;

    private LibvirtDomain(Native.DomainHandle handle)
    {
        _handle = handle;
        // Read once: error messages must not call libvirt (that would reset the error they report).
        Name = LibvirtCalls.Borrowed(Native.DomainGetName(handle), "reading a domain's name");
    }

    public string Name { get; }

    /// <summary>Creates and starts a transient domain from its XML: <c>virsh create</c>. It is gone once destroyed.</summary>
    public static LibvirtDomain CreateXml(LibvirtConnection connection, string xml)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrWhiteSpace(xml);
        return new LibvirtDomain(LibvirtCalls.Check(Native.DomainCreateXml(connection.Handle, xml, 0), "creating a domain"));
    }

    /// <summary>Defines a persistent domain from its XML without starting it: <c>virsh define</c>.</summary>
    public static LibvirtDomain Define(LibvirtConnection connection, string xml)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrWhiteSpace(xml);
        return new LibvirtDomain(LibvirtCalls.Check(Native.DomainDefineXml(connection.Handle, xml), "defining a domain"));
    }

    /// <summary>The domain named <paramref name="name"/>, or null when libvirt has none by that name.</summary>
    public static LibvirtDomain? Lookup(LibvirtConnection connection, string name)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var handle = Native.DomainLookupByName(connection.Handle, name);
        if (handle.IsInvalid)
        {
            var error = LibvirtCalls.LastError($"looking up domain '{name}'");
            handle.Dispose();
            return error.LibvirtCode == LibvirtErrorCodes.NoDomain ? null : throw error;
        }
        return new LibvirtDomain(handle);
    }

    /// <summary>Stops the domain at once (power off): <c>virsh destroy</c>.</summary>
    public void Destroy() => LibvirtCalls.Check(Native.DomainDestroy(_handle), $"stopping domain '{Name}'");

    /// <summary>Removes the persistent definition: <c>virsh undefine</c>.</summary>
    public void Undefine() => LibvirtCalls.Check(Native.DomainUndefine(_handle), $"undefining domain '{Name}'");

    /// <summary>Attaches a device from its XML (see <see cref="DiskXml"/>): <c>virsh attach-device</c>.</summary>
    public void AttachDevice(string deviceXml, DeviceChangeScope scope = DeviceChangeScope.Current)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceXml);
        LibvirtCalls.Check(Native.DomainAttachDeviceFlags(_handle, deviceXml, (uint)scope),
            $"attaching a device to domain '{Name}'");
    }

    /// <summary>The domain's XML; <paramref name="inactive"/> gives the persistent definition instead of the running one.</summary>
    public string GetXml(bool inactive = false) =>
        LibvirtCalls.Check(Native.DomainGetXmlDesc(_handle, inactive ? Native.DomainXmlInactive : 0),
            $"reading the XML of domain '{Name}'");

    public void Dispose() => _handle.Dispose();
}
