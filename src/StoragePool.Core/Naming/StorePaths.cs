namespace StoragePool.Core.Naming;

/// <summary>
/// Which directories may be a store. A store adds <c>volumes/</c> and <c>snapshots/</c> to its directory and keeps
/// every VM's disk there, so it must be a directory of its own: not the operating system's, not one other things
/// share, not the daemon's data directory, and not inside or around another store. Pure rules on the path; whether the
/// directory exists and is writable is the store backend's to check, and the caller checks these again on the path
/// with its symbolic links resolved.
/// </summary>
public static class StorePaths
{
    /// <summary>The operating system's directories: never a store, nor anything inside them.</summary>
    private static readonly string[] SystemDirectories =
        ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr"];

    /// <summary>Directories other things share: a store may be inside one, never one itself.</summary>
    private static readonly string[] SharedDirectories =
        ["/", "/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp"];

    /// <summary>
    /// Null when <paramref name="path"/> may be a store, else why not (a sentence fragment after "store path").
    /// <paramref name="dataDirectory"/>: the daemon's; a store may be inside its <c>stores/</c> folder only.
    /// </summary>
    public static string? Problem(string? path, string? dataDirectory, IEnumerable<(string Name, string Path)> stores)
    {
        ArgumentNullException.ThrowIfNull(stores);
        if (string.IsNullOrEmpty(path))
        {
            return "is empty; give the full path of a directory, for example /srv/storagepool";
        }
        if (path.Any(char.IsControl))
        {
            return $"'{Names.Display(path, 256)}' contains a control character; give the full path of a directory";
        }
        if (!Path.IsPathFullyQualified(path))
        {
            return $"'{path}' is not an absolute path; give the full path, for example /srv/storagepool";
        }
        var full = Normalize(path);
        if (SystemDirectories.FirstOrDefault(d => IsWithin(full, d)) is { } system)
        {
            return $"'{full}' is {(full == system ? "" : "inside ")}the system directory {system}; give a directory of its own, for example /srv/storagepool";
        }
        if (SharedDirectories.Contains(full))
        {
            return $"'{full}' is shared with everything else there; give a directory of its own, for example {(full == "/" ? "" : full)}/storagepool";
        }
        if (dataDirectory is not null)
        {
            var data = Normalize(dataDirectory);
            if (IsWithin(data, full))
            {
                return $"'{full}' holds the daemon's data directory {data}; give a directory of its own";
            }
            var storesFolder = Path.Combine(data, "stores");
            if (full == storesFolder || (IsWithin(full, data) && !IsWithin(full, storesFolder)))
            {
                return $"'{full}' is inside the daemon's data directory {data}; give a directory of its own (or one under {data}/stores)";
            }
        }
        foreach (var (name, other) in stores)
        {
            var existing = Normalize(other);
            if (IsWithin(full, existing) || IsWithin(existing, full))
            {
                return full == existing
                    ? $"'{full}' is already store '{name}'; a directory can hold one store"
                    : $"'{full}' and store '{name}' at '{existing}' are inside one another; give a directory of its own";
            }
        }
        return null;
    }

    /// <summary>The absolute path with '.' and '..' resolved, doubled and trailing slashes removed (no file system access).</summary>
    public static string Normalize(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        return full.Length == 0 ? "/" : full;
    }

    private static bool IsWithin(string path, string directory) =>
        path == directory || path.StartsWith(directory == "/" ? "/" : directory + "/", StringComparison.Ordinal);
}
