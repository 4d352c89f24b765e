using System.Xml.Linq;

namespace StoragePool.Libvirt;

/// <summary>Storage pool XML for <see cref="LibvirtConnection.DefinePool"/>, built with System.Xml.Linq so every value is escaped.</summary>
public static class PoolXml
{
    /// <summary>
    /// <c>&lt;pool type='dir'&gt;&lt;name&gt;NAME&lt;/name&gt;&lt;target&gt;&lt;path&gt;PATH&lt;/path&gt;&lt;/target&gt;&lt;/pool&gt;</c>:
    /// a pool whose volumes are the files in <paramref name="targetPath"/>. libvirt considers it active while
    /// that directory exists.
    /// </summary>
    public static string Dir(string name, string targetPath)
    {
        XmlValues.RequireName(name, nameof(name), "pool name");
        XmlValues.RequireAbsolutePath(targetPath, nameof(targetPath), "pool target path");
        return new XElement("pool", new XAttribute("type", "dir"),
            new XElement("name", name),
            new XElement("target", new XElement("path", targetPath)))
            .ToString(SaveOptions.DisableFormatting);
    }
}
