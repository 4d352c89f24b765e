using System.Net;
using System.Net.Sockets;
using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Cli;

/// <summary>How the CLI finds the daemon and its token: --socket, --url, --token, the environment and the token file.</summary>
public sealed class ConnectionTests : CliTestBase
{
    /// <summary>The CLI with only the given environment (and no token or socket inherited from the test's own).</summary>
    private static Task<ToolResult> BareCliAsync(IDictionary<string, string>? environment, params string[] args)
    {
        var env = new Dictionary<string, string> { ["STORAGEPOOL_SOCKET"] = "", ["STORAGEPOOL_TOKEN"] = "" };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        return Tools.RunAsync(Repo.Cli, env, args);
    }

    [Test]
    public async Task A_daemon_that_is_not_running_gives_exit_41_and_says_how_to_start_it()
    {
        var before = await StateAsync();
        var socket = Path.Combine(TempDir, "nobody-listens.sock");

        var result = await BareCliAsync(null, "--socket", socket, "volume", "create", "p/v", "1G");

        AssertError(result, ErrorCode.DaemonUnavailable, "no daemon");
        Assert.That(result.Stderr, Does.Contain(socket).And.Contain("Start it with 'storagepoold'"));
        Assert.That(await StateAsync(), Is.EqualTo(before));
    }

    [Test]
    public async Task A_wrong_token_gives_exit_40_and_changes_nothing()
    {
        await FailsAsync(ErrorCode.Unauthorized, "--token", "wrong", "pool", "list");
        var result = await FailsAsync(ErrorCode.Unauthorized, "--token", "wrong", "store", "add", Unique("s"), "--path", TempDir);
        Assert.That(result.Stderr, Does.Contain("token"));
    }

    [Test]
    public async Task Without_a_token_the_cli_reads_the_token_file_beside_the_socket()
    {
        var result = await BareCliAsync(new Dictionary<string, string> { ["STORAGEPOOL_SOCKET"] = Daemon.ApiSocket }, "pool", "list", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(File.Exists(Path.Combine(Path.GetDirectoryName(Daemon.ApiSocket)!, "api.token")), Is.True);
    }

    [Test]
    public async Task Without_a_token_or_a_token_file_the_daemon_refuses_with_exit_40()
    {
        // the same socket seen from a directory that has no api.token
        var link = Path.Combine(TempDir, "api.sock");
        File.CreateSymbolicLink(link, Daemon.ApiSocket);

        var result = await BareCliAsync(null, "--socket", link, "pool", "list");

        AssertError(result, ErrorCode.Unauthorized, "no token");
    }

    [Test]
    public async Task The_socket_option_wins_over_the_environment()
    {
        var result = await BareCliAsync(
            new Dictionary<string, string> { ["STORAGEPOOL_SOCKET"] = Path.Combine(TempDir, "wrong.sock"), ["STORAGEPOOL_TOKEN"] = Daemon.Token },
            "--socket", Daemon.ApiSocket, "store", "list");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
    }

    [Test]
    public async Task The_url_option_reaches_a_daemon_over_tcp()
    {
        var port = FreePort();
        await using var remote = await DaemonProcess.StartAsync(extraArgs: ["--no-default-pool", "--listen", $"127.0.0.1:{port}"]);
        var url = $"http://127.0.0.1:{port}";
        var dir = Directory.CreateDirectory(Path.Combine(TempDir, "remote")).FullName;

        var added = await BareCliAsync(null, "--url", url, "--token", remote.Token, "store", "add", "r1", "--path", dir);
        var status = await BareCliAsync(null, "--url", url, "--token", remote.Token, "status", "--json");
        var refused = await BareCliAsync(null, "--url", url, "--token", "wrong", "status");

        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        Assert.That(status.ExitCode, Is.Zero, status.ToString());
        Assert.That(status.Stdout, Does.Contain("\"r1\""));
        AssertError(refused, ErrorCode.Unauthorized, "wrong token over TCP");
        Assert.That(Names(await JsonAsync("store", "list")), Does.Not.Contain("r1"), "the store went to the remote daemon");
    }

    [Test]
    public async Task Socket_and_url_together_are_refused()
    {
        var result = await FailsAsync(ErrorCode.InvalidArgument, "--socket", Daemon.ApiSocket, "--url", "http://127.0.0.1:1", "status");
        Assert.That(result.Stderr, Does.Contain("--socket").And.Contain("--url"));
    }

    [Test]
    public async Task A_url_that_is_not_http_is_refused()
    {
        await FailsAsync(ErrorCode.InvalidArgument, "--url", "10.0.0.2:7100", "status");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
