using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Sizes;
using Libc = StoragePool.Interop.Interop.Libc;

namespace StoragePool.Daemon.Hosting;

/// <summary>
/// Settings as the config file (<c>/etc/storagepool/storagepoold.json</c>, snake_case keys) and the
/// command line give them; null is "not given". The command line wins over the file. The token is
/// never taken from the command line (it would show in <c>ps</c>).
/// </summary>
public sealed record DaemonConfig(
    string? DataDir = null,
    string? ApiSocket = null,
    string? Listen = null,
    string? Token = null,
    bool? CreateDefaultPool = null,
    string? NbdSocket = null,
    string? NbdListen = null,
    bool? NbdInsecure = null,
    string? NbdTlsCertificate = null,
    string? NbdTlsKey = null,
    string? NbdSocketGroup = null,
    string? TransferBandwidth = null,
    string? TransferListen = null,
    string? TlsCertificate = null,
    string? TlsKey = null,
    string? TlsCa = null,
    bool? Fuse = null,
    string? FuseMount = null,
    bool? FuseAllowShrink = null,
    string? LibvirtUri = null,
    bool? Libvirt = null);

/// <summary>The FUSE file system: mounted at <paramref name="Mount"/>, or not at all when null.</summary>
/// <param name="AllowShrink">truncating a volume's file to less may drop data (otherwise only empty volumes shrink).</param>
public sealed record FuseSettings(string? Mount, bool AllowShrink);

/// <summary>
/// TLS of the daemon's TCP listeners (REST on --listen becomes HTTPS, and the transfer data channel TLS) from PEM
/// files, and the CA that other daemons' certificates must chain to (default: the system's trust store).
/// </summary>
public sealed record TlsFiles(string? Certificate, string? Key, string? Ca)
{
    public X509Certificate2? LoadCertificate() =>
        Certificate is null ? null : X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(Certificate, Key).Export(X509ContentType.Pkcs12), null);
}

/// <summary>The NBD server's endpoints: always the unix socket, TCP when asked (TLS unless loopback or insecure).</summary>
/// <param name="SocketGroupId">the group the unix socket is given to (QEMU's, so that VMs reach volumes as disks); null keeps the daemon's.</param>
public sealed record NbdEndpoints(string Socket, IPEndPoint? Listen, bool Insecure, string? TlsCertificate, string? TlsKey, uint? SocketGroupId = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(DaemonConfig))]
internal sealed partial class DaemonConfigJsonContext : JsonSerializerContext
{
}

/// <summary>What the daemon runs with, after the command line, the config file, the environment and the defaults.</summary>
public sealed record DaemonOptions(
    string DataDir,
    string ApiSocket,
    IPEndPoint? Listen,
    string Token,
    bool TokenGenerated,
    bool CreateDefaultPool,
    NbdEndpoints Nbd,
    long? TransferBandwidth = null,
    IPEndPoint? TransferListen = null,
    TlsFiles? Tls = null,
    FuseSettings? Fuse = null,
    string? LibvirtUri = null)
{
    /// <summary>Where libvirt is asked to show each pool as a <c>dir</c> pool, unless told otherwise.</summary>
    public const string DefaultLibvirtUri = "qemu:///system";

    public const string TokenEnvironmentVariable = DefaultPaths.TokenEnvironmentVariable;

    public string MetadataPath => Path.Combine(DataDir, "metadata.db");

    /// <summary>Where a generated token is kept, so it survives restarts.</summary>
    public string GeneratedTokenPath => GeneratedTokenPathIn(DataDir);

    public string DefaultStorePath => Path.Combine(DataDir, "stores", "local");

    public static DaemonOptions Resolve(string? configPath, DaemonConfig commandLine)
    {
        var config = LoadConfig(configPath);
        var dataDir = Path.GetFullPath(commandLine.DataDir ?? config.DataDir ?? DefaultPaths.DataDir);
        var socket = Path.GetFullPath(commandLine.ApiSocket ?? config.ApiSocket ?? DefaultPaths.ApiSocket);
        var endpoint = (commandLine.Listen ?? config.Listen) is { Length: > 0 } l ? ParseEndpoint(l) : null;
        var token = config.Token is { Length: > 0 } t ? t
            : Environment.GetEnvironmentVariable(TokenEnvironmentVariable) is { Length: > 0 } e ? e
            : null;
        var generated = false;
        if (token is null)
        {
            (token, generated) = LoadOrCreateToken(GeneratedTokenPathIn(dataDir));
        }
        var nbd = new NbdEndpoints(
            Path.GetFullPath(commandLine.NbdSocket ?? config.NbdSocket ?? DefaultPaths.NbdSocket),
            (commandLine.NbdListen ?? config.NbdListen) is { Length: > 0 } n ? ParseEndpoint(n) : null,
            commandLine.NbdInsecure ?? config.NbdInsecure ?? false,
            commandLine.NbdTlsCertificate ?? config.NbdTlsCertificate,
            commandLine.NbdTlsKey ?? config.NbdTlsKey,
            NbdSocketGroupId(commandLine.NbdSocketGroup ?? config.NbdSocketGroup));
        if ((nbd.TlsCertificate is null) != (nbd.TlsKey is null))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                "NBD TLS needs both --nbd-tls-cert and --nbd-tls-key (PEM files)");
        }
        if (nbd.Listen is { } nbdEndpoint && !IPAddress.IsLoopback(nbdEndpoint.Address) && nbd.TlsCertificate is null && !nbd.Insecure)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"NBD on {nbdEndpoint} would carry volume data in clear over the network; give --nbd-tls-cert and --nbd-tls-key, " +
                "or --nbd-insecure on a network you trust");
        }
        long? bandwidth = null;
        if ((commandLine.TransferBandwidth ?? config.TransferBandwidth) is { Length: > 0 } text)
        {
            bandwidth = ByteSize.TryParse(text, out var bytes, out var problem) && bytes > 0 ? bytes
                : throw new StoragePoolException(ErrorCode.InvalidArgument,
                    $"transfer bandwidth '{text}' is not a positive rate in bytes per second (e.g. 500M): {problem}");
        }
        // transfers' data channel: by default beside the REST listener, on the next port
        var transferListen = (commandLine.TransferListen ?? config.TransferListen) is { Length: > 0 } x ? ParseEndpoint(x, anyPort: true)
            : endpoint is { Port: > 0 and < 65535 } rest ? new IPEndPoint(rest.Address, rest.Port + 1)
            : null;
        var tls = new TlsFiles(commandLine.TlsCertificate ?? config.TlsCertificate, commandLine.TlsKey ?? config.TlsKey,
            commandLine.TlsCa ?? config.TlsCa);
        if ((tls.Certificate is null) != (tls.Key is null))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, "TLS needs both --tls-cert and --tls-key (PEM files)");
        }
        var fuse = new FuseSettings(
            commandLine.Fuse ?? config.Fuse ?? true
                ? Path.GetFullPath(commandLine.FuseMount ?? config.FuseMount ?? DefaultPaths.FuseMount)
                : null,
            commandLine.FuseAllowShrink ?? config.FuseAllowShrink ?? false);
        return new DaemonOptions(dataDir, socket, endpoint, token, generated,
            commandLine.CreateDefaultPool ?? config.CreateDefaultPool ?? true, nbd, bandwidth, transferListen, tls, fuse,
            commandLine.Libvirt ?? config.Libvirt ?? true ? commandLine.LibvirtUri ?? config.LibvirtUri ?? DefaultLibvirtUri : null);
    }

    /// <summary>The groups QEMU runs as under libvirt: Debian's and Ubuntu's (<c>libvirt-qemu</c>), RHEL's and Fedora's (<c>qemu</c>).</summary>
    private static readonly string[] QemuGroups = ["libvirt-qemu", "qemu"];

    /// <summary>
    /// The NBD socket's group: the one named, or by default QEMU's group when the daemon runs as root and the group
    /// exists, so that libvirt's VMs can open their NBD disks (the socket is 0660).
    /// </summary>
    private static uint? NbdSocketGroupId(string? name)
    {
        if (name is { Length: > 0 })
        {
            return Libc.GroupId(name) ?? throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"the NBD socket's group '{name}' does not exist (see getent group); name the group QEMU runs as, e.g. libvirt-qemu");
        }
        // only root may give a file to a group it is not in
        return Environment.IsPrivilegedProcess ? QemuGroups.Select(Libc.GroupId).FirstOrDefault(id => id is not null) : null;
    }

    private static string GeneratedTokenPathIn(string dataDir) => Path.Combine(dataDir, DefaultPaths.TokenFileName);

    private static DaemonConfig LoadConfig(string? path)
    {
        var explicitPath = path is not null;
        path ??= DefaultPaths.ConfigFile;
        if (!File.Exists(path))
        {
            return explicitPath
                ? throw new StoragePoolException(ErrorCode.InvalidArgument, $"config file '{path}' does not exist")
                : new DaemonConfig();
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), DaemonConfigJsonContext.Default.DaemonConfig) ?? new DaemonConfig();
        }
        catch (JsonException e)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"config file '{path}' is not valid: {e.Message} (expected JSON like {{\"listen\": \"127.0.0.1:7100\", \"token\": \"...\"}})", e);
        }
    }

    /// <param name="anyPort">port 0 is allowed: the system picks a free port.</param>
    public static IPEndPoint ParseEndpoint(string text, bool anyPort = false)
    {
        if (IPEndPoint.TryParse(text, out var endpoint) && (endpoint.Port != 0 || anyPort))
        {
            return endpoint;
        }
        throw new StoragePoolException(ErrorCode.InvalidArgument,
            $"listen address '{text}' is not ADDR:PORT; for example 127.0.0.1:7100 or [::1]:7100");
    }

    /// <summary>A token that stays the same across restarts: generated once, kept in the data directory (mode 0600).</summary>
    private static (string Token, bool Generated) LoadOrCreateToken(string path)
    {
        if (File.Exists(path))
        {
            return (File.ReadAllText(path).Trim(), false);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        WritePrivateFile(path, token);
        return (token, true);
    }

    /// <summary>Writes a file only its owner can read, atomically.</summary>
    public static void WritePrivateFile(string path, string content)
    {
        var tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, path, overwrite: true);
    }
}
