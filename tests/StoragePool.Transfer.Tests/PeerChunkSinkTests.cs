using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using StoragePool.Api;
using StoragePool.Storage;
using StoragePool.Storage.IO;
using StoragePool.Testing;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;
using StoragePool.Transfer.Tcp;

namespace StoragePool.Transfer.Tests;

/// <summary>
/// The sending end against a peer made of a real data channel server and a minimal REST stand-in (HttpListener) for
/// the receiving daemon's transfer calls, with sockets run as storagepoold runs them (transfer.runsettings).
/// </summary>
public sealed class PeerChunkSinkTests
{
    private const int Chunk = 1 << 20;
    private const string Token = "peer-sink-test";
    private const string Id = "t1";
    private TestDirectory _dir = null!;
    private FileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TestDirectory("sp-peersink-");
        _store = new FileStore(_dir.Path);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task Every_call_returns_on_the_thread_pool_not_on_a_socket_event_thread()
    {
        var layout = ChunkLayout.Create(2 * Chunk, Chunk);
        _store.CreateVolume("t", 2 * Chunk);
        using var target = _store.OpenVolume("t", "p/t", WritePath.Empty, CancellationToken.None);
        await using var receiver = new ChunkReceiver(target, layout, ReceiveJournal.Open(Path.Combine(_dir.Path, "t.journal")), null, false);
        await using var data = new DataChannelServer(new IPEndPoint(IPAddress.Loopback, 0), Token, null, _ => receiver, NullLogger.Instance);
        await Task.Run(data.Start);
        using var rest = new HttpListener();
        var port = FreePort();
        rest.Prefixes.Add($"http://127.0.0.1:{port}/");
        rest.Start();
        using var stop = new CancellationTokenSource();
        var digest = ChunkChecksum.Digest([ChunkChecksum.Of(RandomChunk()), ChunkChecksum.OfZeros(Chunk)]);
        var serving = Task.Run(() => ServeRestAsync(rest, data.EndPoint.Port, digest, stop.Token));

        var bytes = RandomChunk();
        var record = new ChunkRecord(0, ChunkKind.Raw, Chunk, Chunk, ChunkChecksum.Of(bytes));
        var threads = await Task.Run(async () =>
        {
            // off NUnit's synchronization context, as in storagepoold, so that continuations run where sockets complete them
            var seen = new List<(string Call, bool Pool)>();
            await using var sink = new PeerChunkSink(new Uri($"http://127.0.0.1:{port}/"), Token, "p/t");
            await sink.BeginAsync(new TransferManifest(Id, "p/s", 2 * Chunk, Chunk, false, false, Chunk), CancellationToken.None);
            seen.Add(("begin", Thread.CurrentThread.IsThreadPoolThread));
            await sink.SendAsync(record, bytes, CancellationToken.None);
            seen.Add(("send", Thread.CurrentThread.IsThreadPoolThread));
            await sink.CompleteAsync(digest, CancellationToken.None);
            seen.Add(("complete", Thread.CurrentThread.IsThreadPoolThread));
            return seen;
        }).WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        rest.Stop();
        await serving;

        Assert.That(threads, Is.EqualTo(new[] { ("begin", true), ("send", true), ("complete", true) }),
            "the sender reads disks after these calls, which must not stall the socket event thread");
        var back = new byte[Chunk];
        await target.ReadAsync(0, back);
        Assert.That(back, Is.EqualTo(bytes), "the chunk went through the data channel");
    }

    private static byte[] RandomChunk()
    {
        var bytes = new byte[Chunk];
        new Random(7).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Answers the two transfer calls a copy makes before and after its chunks, as a daemon would.</summary>
    private static async Task ServeRestAsync(HttpListener rest, int dataPort, ChunkChecksum digest, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await rest.GetContextAsync().WaitAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            var path = context.Request.Url!.AbsolutePath;
            var body = path == ApiRoutes.Transfers
                ? JsonSerializer.SerializeToUtf8Bytes(new TransferSession(Id, "p/t", "created", 0, dataPort, false), ApiJsonContext.Default.TransferSession)
                : JsonSerializer.SerializeToUtf8Bytes(new TransferCompletion(Chunk, Chunk, digest.ToString()), ApiJsonContext.Default.TransferCompletion);
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body, ct);
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
