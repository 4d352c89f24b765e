using System.Text;
using StoragePool.Core.Naming;

namespace StoragePool.Daemon.DBus;

/// <summary>What an object path under <see cref="ObjectPaths.Root"/> names.</summary>
internal enum NodeKind
{
    /// <summary><c>/org/storagepool/StoragePool1</c></summary>
    Manager,

    /// <summary><c>.../pools</c>: only children.</summary>
    Pools,

    /// <summary><c>.../pools/POOL</c></summary>
    Pool,

    /// <summary><c>.../volumes</c>: one child per pool.</summary>
    VolumeDirectory,

    /// <summary><c>.../volumes/POOL</c>: one child per volume of the pool.</summary>
    PoolVolumes,

    /// <summary><c>.../volumes/POOL/VOLUME</c></summary>
    Volume,
}

/// <summary>A parsed object path: the kind of node and the (unescaped) names in it.</summary>
internal readonly record struct BusNode(NodeKind Kind, string Pool = "", string Volume = "")
{
    public VolumeRef VolumeRef => new(Pool, Volume);
}

/// <summary>
/// Object paths of the API. Names become path elements by escaping every byte of their UTF-8 that is
/// not an ASCII letter or digit as <c>_xx</c> (lowercase hex), like systemd's bus_label_escape:
/// volume <c>vm-1.img</c> of pool <c>p1</c> is <c>/org/storagepool/StoragePool1/volumes/p1/vm_2d1_2eimg</c>.
/// </summary>
internal static class ObjectPaths
{
    public const string Root = "/org/storagepool/StoragePool1";
    public const string PoolsSegment = "pools";
    public const string VolumesSegment = "volumes";

    public static string Pools => Root + "/" + PoolsSegment;

    public static string Volumes => Root + "/" + VolumesSegment;

    public static string ForPool(string pool) => $"{Pools}/{Escape(pool)}";

    public static string ForPoolVolumes(string pool) => $"{Volumes}/{Escape(pool)}";

    public static string ForVolume(string pool, string volume) => $"{Volumes}/{Escape(pool)}/{Escape(volume)}";

    public static string ForVolume(VolumeRef volume) => ForVolume(volume.Pool, volume.Name);

    public static string Escape(string name)
    {
        if (name.Length == 0)
        {
            return "_";
        }
        var sb = new StringBuilder(name.Length * 2);
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            if (b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9'))
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('_').Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    /// <summary>The name an escaped path element stands for; false unless it is a valid object name.</summary>
    public static bool TryUnescapeName(string element, out string name)
    {
        name = string.Empty;
        var bytes = new List<byte>(element.Length);
        for (var i = 0; i < element.Length; i++)
        {
            var c = element[i];
            if (c == '_')
            {
                if (i + 2 >= element.Length || !IsHex(element[i + 1]) || !IsHex(element[i + 2]))
                {
                    return false;
                }
                bytes.Add(Convert.ToByte(element.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9'))
            {
                bytes.Add((byte)c);
            }
            else
            {
                return false;
            }
        }
        var decoded = Encoding.UTF8.GetString(bytes.ToArray());
        if (!Names.IsValid(decoded) || Escape(decoded) != element)
        {
            return false;
        }
        name = decoded;
        return true;
    }

    /// <summary>Parses a path at or below <see cref="Root"/>; false for paths that name nothing of ours.</summary>
    public static bool TryParse(string? path, out BusNode node)
    {
        node = default;
        if (path is null || !path.StartsWith(Root, StringComparison.Ordinal))
        {
            return false;
        }
        if (path.Length == Root.Length)
        {
            node = new BusNode(NodeKind.Manager);
            return true;
        }
        if (path[Root.Length] != '/')
        {
            return false;
        }
        var parts = path[(Root.Length + 1)..].Split('/');
        switch (parts)
        {
            case [PoolsSegment]:
                node = new BusNode(NodeKind.Pools);
                return true;
            case [PoolsSegment, var pool] when TryUnescapeName(pool, out var poolName):
                node = new BusNode(NodeKind.Pool, poolName);
                return true;
            case [VolumesSegment]:
                node = new BusNode(NodeKind.VolumeDirectory);
                return true;
            case [VolumesSegment, var pool] when TryUnescapeName(pool, out var poolName):
                node = new BusNode(NodeKind.PoolVolumes, poolName);
                return true;
            case [VolumesSegment, var pool, var volume]
                when TryUnescapeName(pool, out var poolName) && TryUnescapeName(volume, out var volumeName):
                node = new BusNode(NodeKind.Volume, poolName, volumeName);
                return true;
            default:
                return false;
        }
    }

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f');
}
