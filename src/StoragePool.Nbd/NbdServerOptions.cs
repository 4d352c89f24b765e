using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace StoragePool.Nbd;

/// <summary>Where and how the NBD server listens.</summary>
public sealed record NbdServerOptions
{
    /// <summary>A unix socket to listen on (created 0660; a stale socket file is replaced). TLS is offered there
    /// when <see cref="TlsCertificate"/> is set, never required.</summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>The group the unix socket is given to, so that its members may connect (QEMU's group under libvirt,
    /// to reach volumes as disks); null keeps the daemon's own group.</summary>
    public uint? UnixSocketGroupId { get; init; }

    /// <summary>A TCP endpoint to listen on; port 0 picks a free port (see <see cref="NbdServer.Endpoints"/>).</summary>
    public IPEndPoint? TcpEndPoint { get; init; }

    /// <summary>Server certificate with its private key, for NBD_OPT_STARTTLS (TLS 1.2 or 1.3).</summary>
    public X509Certificate2? TlsCertificate { get; init; }

    /// <summary>Serve plain TCP on a non-loopback address (no TLS required).</summary>
    public bool Insecure { get; init; }

    /// <summary>Require TLS on TCP even on a loopback address (it is required elsewhere unless <see cref="Insecure"/>).</summary>
    public bool RequireTls { get; init; }

    /// <summary>Requests one connection may have in flight; more wait in the socket.</summary>
    public int MaxInFlightPerConnection { get; init; } = 64;

    /// <summary>The largest read or write payload, advertised as NBD_INFO_BLOCK_SIZE's maximum.</summary>
    public int MaxRequestBytes { get; init; } = 32 << 20;

    /// <summary>A client that has not chosen an export by then is disconnected.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A request unanswered for longer is counted in <c>storagepool_nbd_stuck_requests_total</c>, and the first such
    /// request of a connection is logged with what the connection is doing: a client waiting that long sees a frozen
    /// disk.
    /// </summary>
    public TimeSpan StuckRequestAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>On stop, how long connections may take to finish the requests they have in flight.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
