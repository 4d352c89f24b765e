using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace StoragePool.Testing;

/// <summary>
/// A throwaway CA and a server certificate it signed (for localhost and 127.0.0.1), made in memory; the CA is
/// written as <c>ca-cert.pem</c> to a directory, which is what qemu's <c>tls-creds-x509</c> and libnbd's
/// <c>tls-certificates</c> read.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public TestCertificates(string directory)
    {
        Directory = directory;
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=StoragePool test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        Ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1")], false));
        serverRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(serverRequest.PublicKey, false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, true, false));
        using var signed = serverRequest.Create(Ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));
        using var withKey = signed.CopyWithPrivateKey(serverKey);
        // through PKCS#12 so the key is a plain exportable one, as a certificate loaded from disk would be
        Server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);

        File.WriteAllText(CaFile, Ca.ExportCertificatePem() + "\n");
        File.WriteAllText(ServerCertificateFile, Server.ExportCertificatePem() + "\n");
        File.WriteAllText(ServerKeyFile, Server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n");
    }

    /// <summary>The CA as PEM, <c>ca-cert.pem</c> in <see cref="Directory"/>.</summary>
    public string CaFile => Path.Combine(Directory, "ca-cert.pem");

    /// <summary>The server certificate as PEM (for a daemon's <c>--tls-cert</c>).</summary>
    public string ServerCertificateFile => Path.Combine(Directory, "server-cert.pem");

    /// <summary>The server's private key as PEM (for a daemon's <c>--tls-key</c>).</summary>
    public string ServerKeyFile => Path.Combine(Directory, "server-key.pem");

    /// <summary>Holds <c>ca-cert.pem</c>.</summary>
    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    public X509Certificate2 Server { get; }

    public void Dispose()
    {
        Ca.Dispose();
        Server.Dispose();
    }
}
