using System.Net;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Support;

/// <summary>
/// A real <see cref="NbdServer"/> in this process, listening on a unix socket in its own temp directory and on
/// TCP 127.0.0.1 (a free port), serving <see cref="TestExports"/> of a file store in the same directory.
/// </summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private readonly TestDirectory _directory;

    private ServerHarness(TestDirectory directory, TestExports exports, NbdServer server, RecordingLogger<NbdServer> logger)
    {
        _directory = directory;
        Exports = exports;
        Server = server;
        Logger = logger;
    }

    public TestExports Exports { get; }

    public NbdServer Server { get; }

    public RecordingLogger<NbdServer> Logger { get; }

    public string Directory => _directory.Path;

    public string SocketPath => _directory.File("nbd.sock");

    public IPEndPoint TcpEndPoint => IPEndPoint.Parse(Server.Endpoints.Single(e => e.StartsWith("tcp:", StringComparison.Ordinal))[4..]);

    public int TcpPort => TcpEndPoint.Port;

    /// <summary>Starts a server; <paramref name="configure"/> may change the options (TLS, limits).</summary>
    public static async Task<ServerHarness> StartAsync(Func<NbdServerOptions, NbdServerOptions>? configure = null,
        Action<TestExports>? populate = null)
    {
        var directory = new TestDirectory();
        var store = System.IO.Directory.CreateDirectory(directory.File("store")).FullName;
        var exports = new TestExports(store);
        populate?.Invoke(exports);
        var options = new NbdServerOptions
        {
            UnixSocketPath = directory.File("nbd.sock"),
            TcpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        };
        options = configure?.Invoke(options) ?? options;
        var logger = new RecordingLogger<NbdServer>();
        var server = new NbdServer(exports, logger, options);
        // started off NUnit's synchronization context, as in storagepoold: its continuations then run where the
        // sockets complete them (tests/daemon-sockets.runsettings)
        await Task.Run(() => server.StartAsync(CancellationToken.None));
        return new ServerHarness(directory, exports, server, logger);
    }

    /// <summary>The NBD URI of an export on the unix socket, as qemu and libnbd take it.</summary>
    public string UnixUri(string export) => $"nbd+unix:///{export}?socket={SocketPath}";

    /// <summary>The NBD URI of an export over TCP.</summary>
    public string TcpUri(string export) => $"nbd://127.0.0.1:{TcpPort}/{export}";

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Exports.Dispose();
        _directory.Dispose();
    }
}
