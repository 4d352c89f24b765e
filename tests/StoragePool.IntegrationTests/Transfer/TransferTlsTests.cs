using StoragePool.Core.Errors;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Transfer;

/// <summary>The destination serves REST over HTTPS and its data channel in TLS with a test CA's certificate.</summary>
[TestFixture]
public sealed class TransferTlsTests : TransferTestBase
{
    private static readonly TestDirectory CertificateDirectory = new("sp-tls-");
    private static readonly TestCertificates Certificates = new(CertificateDirectory.Path);

    protected override string Scheme => "https";

    protected override string[] DestinationArguments => ["--tls-cert", Certificates.ServerCertificateFile, "--tls-key", Certificates.ServerKeyFile];

    protected override string[] SourceArguments => ["--tls-ca", Certificates.CaFile];

    [OneTimeTearDown]
    public void RemoveCertificates()
    {
        Certificates.Dispose();
        CertificateDirectory.Dispose();
    }

    [Test]
    public async Task Copy_to_a_daemon_with_tls_verifies_it_and_arrives_whole()
    {
        var name = NewName("tls");
        await CreateAsync(Source, name, "32M", "write -P 0x6b 0 12M");

        var job = await CopyAsync(name);

        Assert.That(job.Progress.ChunksSent, Is.EqualTo(3));
        await AssertSameAsync(name, name);
        Assert.That(Destination.Log, Does.Contain("https://127.0.0.1"));
    }

    [Test]
    public async Task Plain_http_to_a_tls_listener_fails_clearly()
    {
        var name = NewName("plain");
        await CreateAsync(Source, name, "16M", "write -P 0x6c 0 4M");

        var result = await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl.Replace("https://", "http://", StringComparison.Ordinal));

        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.PeerUnavailable), result.ToString());
        Assert.That(result.Stderr, Does.Contain("answers only https://"));
    }
}
