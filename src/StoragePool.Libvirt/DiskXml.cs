using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace StoragePool.Libvirt;

/// <summary>
/// Disk device XML for <see cref="LibvirtDomain.AttachDevice"/> and domain definitions, built with
/// System.Xml.Linq so every value is escaped. Disks are raw with the host page cache off
/// (<c>cache='none'</c>): StoragePool does its own caching and durability.
/// </summary>
public static partial class DiskXml
{
    /// <summary>
    /// A disk served by an NBD server on a unix socket (the daemon's NBD export of a volume):
    /// <c>&lt;disk type='network' device='disk'&gt;&lt;driver name='qemu' type='raw' cache='none' io='native'/&gt;
    /// &lt;source protocol='nbd' name='EXPORT'&gt;&lt;host transport='unix' socket='SOCKET'/&gt;&lt;/source&gt;
    /// &lt;target dev='TARGET' bus='…'/&gt;&lt;/disk&gt;</c>.
    /// </summary>
    /// <param name="exportName">The NBD export name, e.g. <c>POOL/VOLUME</c>.</param>
    /// <param name="unixSocket">Absolute path of the NBD server's unix socket.</param>
    /// <param name="target">The guest device name, e.g. <c>vdb</c>; see <see cref="BusFor"/>.</param>
    public static string Nbd(string exportName, string unixSocket, string target)
    {
        XmlValues.RequireText(exportName, nameof(exportName), "NBD export name");
        XmlValues.RequireAbsolutePath(unixSocket, nameof(unixSocket), "NBD unix socket");
        var bus = BusFor(target);
        return new XElement("disk", new XAttribute("type", "network"), new XAttribute("device", "disk"),
            new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", "raw"),
                new XAttribute("cache", "none"), new XAttribute("io", "native")),
            new XElement("source", new XAttribute("protocol", "nbd"), new XAttribute("name", exportName),
                new XElement("host", new XAttribute("transport", "unix"), new XAttribute("socket", unixSocket))),
            Target(target, bus))
            .ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>
    /// A disk that is a volume of a libvirt storage pool:
    /// <c>&lt;disk type='volume' device='disk'&gt;&lt;driver name='qemu' type='raw' cache='none'/&gt;
    /// &lt;source pool='POOL' volume='VOLUME'/&gt;&lt;target dev='TARGET' bus='…'/&gt;&lt;/disk&gt;</c>.
    /// </summary>
    public static string Volume(string pool, string volume, string target)
    {
        XmlValues.RequireName(pool, nameof(pool), "pool name");
        XmlValues.RequireName(volume, nameof(volume), "volume name");
        var bus = BusFor(target);
        return new XElement("disk", new XAttribute("type", "volume"), new XAttribute("device", "disk"),
            new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", "raw"), new XAttribute("cache", "none")),
            new XElement("source", new XAttribute("pool", pool), new XAttribute("volume", volume)),
            Target(target, bus))
            .ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>
    /// The bus a guest device name implies: <c>vdX</c> virtio, <c>sdX</c> scsi, <c>hdX</c> ide, <c>xvdX</c> xen.
    /// Throws for any other name.
    /// </summary>
    public static string BusFor(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var match = TargetPattern().Match(target);
        if (!match.Success)
        {
            throw new ArgumentException(
                $"disk target '{target}' is not a guest device name; use vd, sd, hd or xvd followed by one to three " +
                "lowercase letters, e.g. 'vdb'", nameof(target));
        }
        return match.Groups["prefix"].Value switch
        {
            "vd" => "virtio",
            "sd" => "scsi",
            "hd" => "ide",
            _ => "xen",
        };
    }

    private static XElement Target(string target, string bus) =>
        new("target", new XAttribute("dev", target), new XAttribute("bus", bus));

    [GeneratedRegex("^(?<prefix>vd|sd|hd|xvd)[a-z]{1,3}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TargetPattern();
}
