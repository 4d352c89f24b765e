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
/// The data channel's two ends on real sockets, run as storagepoold runs them (tests/daemon-sockets.runsettings): socket
/// continuations inline, on a single event thread that every connection shares. The receiving daemon's REST calls
/// are played by a minimal HttpListener.
/// </summary>
public sealed class DataChannelTests
{
    private const int Chunk = 1 << 20;
    private const string Token = "data-channel-test";
    private const string Id = "t1";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private TestDirectory _dir = null!;
    private FileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TestDirectory("sp-datachannel-");
        _store = new FileStore(_dir.Path);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task A_chunk_stuck_in_its_disk_write_does_not_hold_up_other_connections()
    {
        Assert.That(DaemonSockets.InlineOnOneThread, Is.True,
            "the test's premise: socket continuations run inline, as in storagepoold, on one event thread (tests/daemon-sockets.runsettings)");
        var layout = ChunkLayout.Create(4 * Chunk, Chunk);
        _store.CreateVolume("stuck", 4 * Chunk);
        _store.CreateVolume("free", 4 * Chunk);
        using var stuckVolume = _store.OpenVolume("stuck", "p/stuck", WritePath.Empty, CancellationToken.None);
        using var freeVolume = _store.OpenVolume("free", "p/free", WritePath.Empty, CancellationToken.None);
        using var disk = new ManualResetEventSlim();
        var writing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // a write that blocks its thread, as pwrite does on a disk that does not answer
        var stuck = new HookedVolume(stuckVolume, call =>
        {
            if (call.Operation == "write")
            {
                writing.TrySetResult();
                disk.Wait(TimeSpan.FromSeconds(60));
            }
            return ValueTask.CompletedTask;
        });
        await using var stuckReceiver = new ChunkReceiver(stuck, layout, ReceiveJournal.Open(Path.Combine(_dir.Path, "stuck.journal")), null, false);
        await using var freeReceiver = new ChunkReceiver(freeVolume, layout, ReceiveJournal.Open(Path.Combine(_dir.Path, "free.journal")), null, false);
        var receivers = new Dictionary<string, ChunkReceiver> { ["stuck"] = stuckReceiver, ["free"] = freeReceiver };
        await using var server = new DataChannelServer(new IPEndPoint(IPAddress.Loopback, 0), Token, null, id => receivers[id], NullLogger.Instance);
        // started off NUnit's synchronization context, as in storagepoold: its continuations then run where the
        // sockets complete them
        await Task.Run(server.Start);
        try
        {
            using var first = await ConnectAsync(server.EndPoint, "stuck").WaitAsync(Patience);
            var firstAck = SendChunkAsync(first.GetStream(), 0);
            await writing.Task.WaitAsync(Patience);

            var secondCopy = Task.Run(async () =>
            {
                using var client = await ConnectAsync(server.EndPoint, "free");
                await SendChunkAsync(client.GetStream(), 1);
            });
            Assert.That(async () => await secondCopy.WaitAsync(Patience), Throws.Nothing,
                "another transfer's chunk is written and acknowledged while the first one's write is stuck");
            Assert.That(firstAck.IsCompleted, Is.False, "the stuck chunk is not acknowledged before it is written");

            disk.Set();
            await firstAck.WaitAsync(Patience);
        }
        finally
        {
            disk.Set();
        }
        Assert.That(_store.GetVolumeExtents("free"), Is.Not.Empty, "the second chunk was written");
    }

    private static async Task<TcpClient> ConnectAsync(IPEndPoint server, string transferId)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(server);
        var stream = client.GetStream();
        await stream.WriteAsync(DataChannel.EncodeHello(Token, transferId));
        await DataChannel.ReadAckAsync(stream, -1, new byte[DataChannel.AckHeaderSize], CancellationToken.None);
        return client;
    }

    private static async Task SendChunkAsync(Stream stream, long index)
    {
        var data = new byte[Chunk];
        new Random((int)index + 1).NextBytes(data);
        var header = new byte[ChunkRecord.HeaderSize];
        new ChunkRecord(index, ChunkKind.Raw, Chunk, Chunk, ChunkChecksum.Of(data)).WriteTo(header);
        await stream.WriteAsync(header);
        await stream.WriteAsync(data);
        await DataChannel.ReadAckAsync(stream, index, new byte[DataChannel.AckHeaderSize], CancellationToken.None);
    }

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
            var seen = new List<(string Call, bool Pool, string? Thread)>();
            await using var sink = new PeerChunkSink(new Uri($"http://127.0.0.1:{port}/"), Token, "p/t");
            await sink.BeginAsync(new TransferManifest(Id, "p/s", 2 * Chunk, Chunk, false, false, Chunk), CancellationToken.None);
            seen.Add(("begin", Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
            await sink.SendAsync(record, bytes, CancellationToken.None);
            seen.Add(("send", Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
            await sink.CompleteAsync(digest, CancellationToken.None);
            seen.Add(("complete", Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
            return seen;
        }).WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        rest.Stop();
        await serving;

        Assert.That(threads.Select(t => (t.Call, t.Pool)), Is.EqualTo(new[] { ("begin", true), ("send", true), ("complete", true) }),
            "the sender reads disks after these calls, which must not stall the socket event thread; threads seen: " +
            string.Join(", ", threads.Select(t => $"{t.Call} on '{t.Thread}'")));
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
