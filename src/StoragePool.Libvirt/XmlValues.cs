using System.Xml;

namespace StoragePool.Libvirt;

/// <summary>Checks on values before they go into libvirt XML, with messages that say what to fix.</summary>
internal static class XmlValues
{
    /// <summary>A libvirt object name: not empty, no '/', only characters XML can carry.</summary>
    internal static void RequireName(string value, string paramName, string what)
    {
        RequireText(value, paramName, what);
        if (value.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"{what} '{value}' contains '/', which libvirt does not allow in names", paramName);
        }
    }

    internal static void RequireAbsolutePath(string value, string paramName, string what)
    {
        RequireText(value, paramName, what);
        if (!value.StartsWith('/'))
        {
            throw new ArgumentException($"{what} '{value}' is not absolute; give the full path starting with '/'", paramName);
        }
    }

    /// <summary>Not empty, and no control characters (XML 1.0 cannot carry most of them).</summary>
    internal static void RequireText(string value, string paramName, string what)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        if (value.Length == 0)
        {
            throw new ArgumentException($"{what} is empty", paramName);
        }
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && XmlConvert.IsXmlSurrogatePair(value[i + 1], c))
            {
                i++;
            }
            else if (char.IsControl(c) || !XmlConvert.IsXmlChar(c))
            {
                throw new ArgumentException(
                    $"{what} contains the character U+{(int)c:X4} at position {i}, which cannot go into libvirt's XML", paramName);
            }
        }
    }
}
