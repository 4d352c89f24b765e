using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using StoragePool.Core.Errors;

namespace StoragePool.Api;

/// <summary>Checks another daemon's TLS certificate against a CA of our choosing (the daemon's --tls-ca).</summary>
public static class PeerCertificates
{
    public static RemoteCertificateValidationCallback Validator(string caFile)
    {
        X509Certificate2Collection roots = [];
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"cannot read the CA file '{caFile}': {e.Message}", e);
        }
        return (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                return false;
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
    }
}
