namespace StoragePool.Api;

/// <summary>
/// Where the daemon keeps its data and sockets unless told otherwise. Root gets the system paths
/// (<c>/var/lib/storagepool</c>, <c>/run/storagepool</c>); anyone else gets per-user paths
/// (<c>$XDG_DATA_HOME/storagepool</c>, <c>$XDG_RUNTIME_DIR/storagepool</c>), so a newcomer can try it without root.
/// </summary>
public static class DefaultPaths
{
    public const string SocketEnvironmentVariable = "STORAGEPOOL_SOCKET";
    public const string TokenEnvironmentVariable = "STORAGEPOOL_TOKEN";
    public const string TokenFileName = "api.token";

    public static bool IsRoot => Environment.IsPrivilegedProcess;

    public static string DataDir => IsRoot
        ? "/var/lib/storagepool"
        : Path.Combine(XdgDir("XDG_DATA_HOME", ".local/share"), "storagepool");

    public static string RuntimeDir => IsRoot
        ? "/run/storagepool"
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } run
            ? run
            : Path.Combine(XdgDir("XDG_STATE_HOME", ".local/state")), "storagepool");

    public static string ApiSocket => Path.Combine(RuntimeDir, "api.sock");

    public static string NbdSocket => Path.Combine(RuntimeDir, "nbd.sock");

    /// <summary>Where the FUSE file system is mounted: <c>fs/POOL/volumes/VOLUME</c> is a volume's file.</summary>
    public static string FuseMount => Path.Combine(RuntimeDir, "fs");

    public static string ConfigFile => IsRoot
        ? "/etc/storagepool/storagepoold.json"
        : Path.Combine(XdgDir("XDG_CONFIG_HOME", ".config"), "storagepool", "storagepoold.json");

    /// <summary>The daemon writes its generated token beside its API socket (mode 0600), so local root needs no token.</summary>
    public static string TokenFileFor(string apiSocket) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(apiSocket)) ?? "/", TokenFileName);

    private static string XdgDir(string variable, string fallbackUnderHome) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), fallbackUnderHome);
}
