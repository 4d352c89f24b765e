using System.Net;
using System.Security.Authentication;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Clients;

/// <summary>
/// TLS on TCP with a test CA: qemu and libnbd connect through STARTTLS and verify the server's certificate;
/// a server that requires TLS refuses everything else (FORCEDTLS). There is no non-loopback address here, so
/// the requirement is switched on with <see cref="NbdServerOptions.RequireTls"/>.
/// </summary>
[Parallelizable(ParallelScope.All)]
public sealed class TlsTests
{
    private const long VolumeSize = 16L << 20;

    [Test]
    public async Task Qemu_img_and_qemu_io_work_over_tls_with_the_test_ca()
    {
        NbdClients.Require("qemu-img", "qemu-io");
        await using var tls = await TlsServer.StartAsync();
        var objectArg = $"tls-creds-x509,id=tls0,dir={tls.Certificates.Directory},endpoint=client";
        var image = $"driver=raw,file.driver=nbd,file.host=127.0.0.1,file.port={tls.Server.TcpPort},file.export=pool/vol,file.tls-creds=tls0";

        var info = await Tools.OutputAsync("qemu-img", "info", "--object", objectArg, "--image-opts", image);
        var write = await Tools.RunAsync("qemu-io", "--object", objectArg, "--image-opts", image, "-c", "write -P 0x5c 1M 64k", "-c", "read -P 0x5c 1M 64k");

        Assert.That(info, Does.Contain($"virtual size: 16 MiB ({VolumeSize} bytes)"));
        Assert.That(write.ExitCode, Is.Zero, write.ToString());
        Assert.That(write.Stdout, Does.Not.Contain("fail").IgnoreCase);
        var bytes = await File.ReadAllBytesAsync(tls.Server.Exports.PathOf("pool/vol"));
        Assert.That(bytes.AsSpan(1 << 20, 64 << 10).IndexOfAnyExcept((byte)0x5c), Is.EqualTo(-1));
        Assert.That(tls.Server.Logger.Lines.Any(l => l.EventId == 5004 && l.Message.Contains("Tls1", StringComparison.Ordinal)),
            "the export was served over TLS");
    }

    [Test]
    public async Task Nbdinfo_connects_with_nbds_and_the_test_ca()
    {
        NbdClients.Require("nbdinfo");
        await using var tls = await TlsServer.StartAsync();

        var info = await Tools.OutputAsync("nbdinfo", "--json",
            $"nbds://127.0.0.1:{tls.Server.TcpPort}/pool/vol?tls-certificates={tls.Certificates.Directory}");

        Assert.That(info, Does.Contain("\"TLS\": true"));
        Assert.That(info, Does.Contain($"\"export-size\": {VolumeSize}"));
    }

    [Test]
    public async Task A_plain_client_is_refused_where_tls_is_required()
    {
        NbdClients.Require("nbdinfo", "qemu-img");
        await using var tls = await TlsServer.StartAsync();

        var nbdinfo = await Tools.RunAsync("nbdinfo", tls.Server.TcpUri("pool/vol"));
        var qemu = await Tools.RunAsync("qemu-img", "info", tls.Server.TcpUri("pool/vol"));

        Assert.That(nbdinfo.ExitCode, Is.Not.Zero);
        Assert.That(nbdinfo.Stderr, Does.Contain("opt_go"), nbdinfo.ToString());
        Assert.That(tls.Server.Logger.Lines.Where(l => l.EventId == 5011).Select(l => l.Message),
            Has.Some.Contains("NBD_OPT_GO refused with NBD_REP_ERR_TLS_REQD"));
        Assert.That(qemu.ExitCode, Is.Not.Zero);
        Assert.That(qemu.Stderr, Does.Contain("TLS").IgnoreCase);
    }

    [Test]
    public async Task Before_starttls_every_option_but_abort_gets_tls_required()
    {
        await using var tls = await TlsServer.StartAsync();
        await using var client = await NbdTestClient.ConnectAsync(tls.Server.TcpEndPoint);
        await client.GreetAsync();

        foreach (var option in new[] { NbdOption.List, NbdOption.StructuredReply, NbdOption.Go, NbdOption.Info, (NbdOption)4242 })
        {
            var replies = await client.OptionAsync(option, option is NbdOption.Go or NbdOption.Info ? InfoRequest("pool/vol") : default);
            Assert.That(replies.Single().Type, Is.EqualTo(NbdOptionReply.ErrTlsRequired), NbdNames.Of(option));
        }

        await client.StartTlsAsync(tls.Certificates.Ca);
        Assert.That(await client.ListAsync(), Is.EqualTo(new[] { "pool/vol" }));
        await client.GoAsync("pool/vol");
        await client.WriteAsync(0, new byte[] { 1, 2, 3 });
        Assert.That(await client.ReadAsync(0, 3), Is.EqualTo(new byte[] { 1, 2, 3 }));
        var again = await client.RequestAsync(NbdCommand.Read, 0, 3);
        Assert.That(again.Data, Is.EqualTo(new byte[] { 1, 2, 3 }));
        await client.DisconnectAsync();
    }

    [Test]
    public async Task Export_name_without_tls_ends_the_connection_where_tls_is_required()
    {
        await using var tls = await TlsServer.StartAsync();
        await using var client = await NbdTestClient.ConnectAsync(tls.Server.TcpEndPoint);
        await client.GreetAsync();

        await client.SendOptionAsync(NbdOption.ExportName, "pool/vol"u8.ToArray());

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task A_client_that_does_not_trust_the_certificate_fails_and_others_carry_on()
    {
        await using var tls = await TlsServer.StartAsync();
        using var otherDirectory = new TestDirectory();
        using var stranger = new TestCertificates(otherDirectory.Path);

        await using (var client = await NbdTestClient.ConnectAsync(tls.Server.TcpEndPoint))
        {
            await client.GreetAsync();
            Assert.That(async () => await client.StartTlsAsync(stranger.Ca), Throws.InstanceOf<AuthenticationException>());
        }

        await using var good = await NbdTestClient.ConnectAsync(tls.Server.TcpEndPoint);
        await good.GreetAsync();
        await good.StartTlsAsync(tls.Certificates.Ca);
        await good.GoAsync("pool/vol");
        Assert.That(await good.ReadAsync(0, 512), Has.All.EqualTo((byte)0));
    }

    [Test]
    public async Task Starttls_on_a_server_without_a_certificate_is_refused_by_policy()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        await using var client = await NbdTestClient.ConnectAsync(server.TcpEndPoint);
        await client.GreetAsync();

        var replies = await client.OptionAsync(NbdOption.StartTls);

        Assert.That(replies.Single().Type, Is.EqualTo(NbdOptionReply.ErrPolicy));
        await client.GoAsync("pool/vol");
        Assert.That(await client.ReadAsync(0, 16), Has.Length.EqualTo(16));
    }

    [Test]
    public void A_tcp_endpoint_off_loopback_without_a_certificate_is_refused_at_start()
    {
        using var directory = new TestDirectory();
        using var exports = new TestExports(directory.Path);
        var server = new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions { TcpEndPoint = new IPEndPoint(IPAddress.Any, 0) });

        Assert.That(() => server.StartAsync(CancellationToken.None),
            Throws.TypeOf<Core.Errors.StoragePoolException>().With.Message.Contains("needs TLS"));
    }

    private static byte[] InfoRequest(string export)
    {
        var data = new byte[NbdCodec.InfoRequestSize(export, 0)];
        NbdCodec.WriteInfoRequest(data, export, []);
        return data;
    }

    /// <summary>A server with the test CA's certificate that requires TLS on its (loopback) TCP endpoint.</summary>
    private sealed class TlsServer : IAsyncDisposable
    {
        private readonly TestDirectory _certificateDirectory;

        private TlsServer(TestDirectory certificateDirectory, TestCertificates certificates, ServerHarness server)
        {
            _certificateDirectory = certificateDirectory;
            Certificates = certificates;
            Server = server;
        }

        public TestCertificates Certificates { get; }

        public ServerHarness Server { get; }

        public static async Task<TlsServer> StartAsync()
        {
            var directory = new TestDirectory();
            var certificates = new TestCertificates(directory.Path);
            var server = await ServerHarness.StartAsync(
                o => o with { TlsCertificate = certificates.Server, RequireTls = true },
                e => e.AddVolume("pool/vol", VolumeSize));
            return new TlsServer(directory, certificates, server);
        }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            Certificates.Dispose();
            _certificateDirectory.Dispose();
        }
    }
}
