using System.Net;
using System.Security.Cryptography.X509Certificates;
using StoragePool.Core.Model;
using StoragePool.Daemon.Hosting;
using StoragePool.Nbd;

namespace StoragePool.Daemon.Nbd;

/// <summary>Runs the NBD server inside storagepoold, on the unix socket and, when asked, TCP.</summary>
internal sealed class NbdService(NbdExports exports, ILogger<NbdServer> logger, DaemonOptions options) : IHostedService, IAsyncDisposable
{
    private NbdServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var nbd = options.Nbd;
        DaemonHost.RuntimeDirectory(Path.GetDirectoryName(nbd.Socket)!);
        _server = new NbdServer(exports, logger, new NbdServerOptions
        {
            UnixSocketPath = nbd.Socket,
            UnixSocketGroupId = nbd.SocketGroupId,
            TcpEndPoint = nbd.Listen,
            TlsCertificate = nbd.TlsCertificate is { } cert ? X509Certificate2.CreateFromPemFile(cert, nbd.TlsKey) : null,
            Insecure = nbd.Insecure,
        });
        await _server.StartAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _server, null) is { } server)
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>The URIs that reach <paramref name="name"/>: unix socket first, then TCP (nbds:// with TLS).</summary>
    public static ExportInfo Describe(NbdEndpoints nbd, string name, bool readOnly)
    {
        var uris = new List<string> { $"nbd+unix:///{name}?socket={nbd.Socket}" };
        if (nbd.Listen is { } tcp)
        {
            var host = tcp.Address.Equals(IPAddress.Any) || tcp.Address.Equals(IPAddress.IPv6Any)
                ? Environment.MachineName
                : tcp.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{tcp.Address}]" : tcp.Address.ToString();
            uris.Add($"{(nbd.TlsCertificate is null ? "nbd" : "nbds")}://{host}:{tcp.Port}/{name}");
        }
        return new ExportInfo(name, readOnly, uris);
    }
}
