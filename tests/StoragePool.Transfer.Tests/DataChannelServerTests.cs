using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using StoragePool.Storage;
using StoragePool.Storage.IO;
using StoragePool.Testing;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;
using StoragePool.Transfer.Tcp;

namespace StoragePool.Transfer.Tests;

/// <summary>
/// The data channel's server on real sockets, run as storagepoold runs them (transfer.runsettings): socket
/// continuations inline, on a single event thread that every connection shares.
/// </summary>
public sealed class DataChannelServerTests
{
    private const int Chunk = 1 << 20;
    private const string Token = "data-channel-test";
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
        Assert.That(Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"), Is.EqualTo("1"),
            "the test's premise: socket continuations run inline, as in storagepoold (transfer.runsettings)");
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
}
