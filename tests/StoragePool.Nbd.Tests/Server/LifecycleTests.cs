using System.Net.Sockets;
using StoragePool.Core.Errors;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>Starting and stopping the server: its endpoints, its socket file, and the clients it has when it stops.</summary>
[Parallelizable(ParallelScope.All)]
public sealed class LifecycleTests
{
    private const long VolumeSize = 4L << 20;

    [Test]
    public async Task The_server_lists_where_it_listens()
    {
        await using var server = await ServerHarness.StartAsync();

        Assert.That(server.Server.Endpoints, Has.Count.EqualTo(2));
        Assert.That(server.Server.Endpoints[0], Is.EqualTo("unix:" + server.SocketPath));
        Assert.That(server.Server.Endpoints[1], Does.Match(@"^tcp:127\.0\.0\.1:[1-9][0-9]*$"));
        Assert.That(File.GetUnixFileMode(server.SocketPath), Is.EqualTo(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
    }

    [Test]
    public async Task Stopping_finishes_requests_in_flight_then_closes_every_connection_and_the_socket()
    {
        var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        try
        {
            server.Exports.Wrap = volume => new HookedVolume(volume, async call =>
            {
                if (call.Operation == "write")
                {
                    await Task.Delay(300);
                }
            });
            await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
            await using var idle = await NbdTestClient.ConnectAsync(server.SocketPath);
            await client.SendAsync(NbdCommand.Write, 0, 4096, payload: RequestTests.Filled(4096, 7));
            await Task.Delay(50);

            await server.Server.DisposeAsync();

            Assert.That((await client.ReceiveAsync()).Error, Is.EqualTo(NbdError.None), "the write in flight was finished");
            Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(5)));
            Assert.That(await idle.IsClosedByServerAsync(TimeSpan.FromSeconds(5)));
            Assert.That(File.Exists(server.SocketPath), Is.False);
            Assert.That(server.Exports.OpenLeases, Is.Zero);
            Assert.That(File.ReadAllBytes(server.Exports.PathOf("pool/vol")).AsSpan(0, 4096).IndexOfAnyExcept((byte)7), Is.EqualTo(-1));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Test]
    public async Task A_stale_socket_file_is_replaced_and_a_live_one_is_refused()
    {
        await using var first = await ServerHarness.StartAsync();
        using var directory = new TestDirectory();
        using var exports = new TestExports(directory.Path);
        var stale = directory.File("stale.sock");
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(stale));
        }

        await using var second = new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions { UnixSocketPath = stale });
        await second.StartAsync(CancellationToken.None);
        await using var third = new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions { UnixSocketPath = first.SocketPath });

        Assert.That(second.Endpoints, Is.EqualTo(new[] { "unix:" + stale }));
        Assert.That(() => third.StartAsync(CancellationToken.None), Throws.TypeOf<StoragePoolException>()
            .With.Property(nameof(StoragePoolException.Code)).EqualTo(ErrorCode.Conflict)
            .And.Message.Contains("another NBD server is listening"));
        await using var client = await NbdTestClient.ConnectAsync(first.SocketPath);
        await client.GreetAsync();
    }

    [Test]
    public void Options_out_of_range_are_refused()
    {
        using var directory = new TestDirectory();
        using var exports = new TestExports(directory.Path);

        Assert.That(() => new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions { MaxInFlightPerConnection = 0 }),
            Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions { MaxRequestBytes = 100 }),
            Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new NbdServer(exports, new RecordingLogger<NbdServer>(), new NbdServerOptions()).StartAsync(CancellationToken.None),
            Throws.TypeOf<StoragePoolException>().With.Message.Contains("nowhere to listen"));
    }
}
