using System.Net;
using System.Net.Security;

namespace StoragePool.Nbd.Server;

/// <summary>
/// What a listener does about TLS: offers it when there is a certificate; requires it (the spec's FORCEDTLS:
/// every option but STARTTLS and ABORT is answered NBD_REP_ERR_TLS_REQD) on TCP unless the address is loopback
/// or the server runs insecure. Without a certificate it is NOTLS: STARTTLS gets NBD_REP_ERR_POLICY.
/// </summary>
internal sealed record TlsPolicy(SslStreamCertificateContext? Certificate, bool Required)
{
    public bool Offered => Certificate is not null;

    public static TlsPolicy For(NbdServerOptions options, IPEndPoint? tcpEndPoint) => new(
        options.TlsCertificate is { } certificate
            ? SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true)
            : null,
        tcpEndPoint is not null && !options.Insecure && (options.RequireTls || !IPAddress.IsLoopback(tcpEndPoint.Address)));
}
