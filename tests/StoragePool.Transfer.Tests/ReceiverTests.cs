using StoragePool.Core.Errors;
using StoragePool.Storage;
using StoragePool.Storage.IO;
using StoragePool.Testing;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Tests;

/// <summary>The sender and receiver on real file-store volumes, joined by an in-process sink (the HTTP hop is tested by the integration tests).</summary>
public sealed class ReceiverTests
{
    private const int Chunk = 1 << 20;
    private TestDirectory _dir = null!;
    private FileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TestDirectory("sp-transfer-");
        _store = new FileStore(_dir.Path);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task A_damaged_chunk_writes_nothing_and_a_good_one_is_journaled()
    {
        _store.CreateVolume("t", 4 * Chunk);
        using var target = _store.OpenVolume("t", "p/t", WritePath.Empty, CancellationToken.None);
        var journalPath = Path.Combine(_dir.Path, "j.journal");
        var layout = ChunkLayout.Create(4 * Chunk, Chunk);
        var data = new byte[Chunk];
        new Random(1).NextBytes(data);
        var record = new ChunkRecord(1, ChunkKind.Raw, Chunk, Chunk, ChunkChecksum.Of(data));
        await using (var receiver = new ChunkReceiver(target, layout, ReceiveJournal.Open(journalPath), null, targetMayHoldData: false))
        {
            var damaged = (byte[])data.Clone();
            damaged[100] ^= 1;
            Assert.That(async () => await receiver.ReceiveAsync(record, damaged, CancellationToken.None),
                Throws.TypeOf<StoragePoolException>().With.Property(nameof(StoragePoolException.Code)).EqualTo(ErrorCode.ChecksumMismatch));
            Assert.That(_store.GetVolumeExtents("t"), Is.Empty, "nothing written");

            await receiver.ReceiveAsync(record, data, CancellationToken.None);
            var all = Enumerable.Range(0, 4).Select(i => i == 1 ? record.Checksum : ChunkChecksum.OfZeros(Chunk)).ToArray();
            await receiver.CompleteAsync(ChunkChecksum.Digest(all), CancellationToken.None);
            Assert.That(async () => await receiver.CompleteAsync(ChunkChecksum.Of("other"u8), CancellationToken.None),
                Throws.TypeOf<StoragePoolException>().With.Message.Contains("digest"));
        }
        using var reopened = ReceiveJournal.Open(journalPath);
        Assert.That(reopened.Entries, Is.EqualTo(new Dictionary<long, ChunkChecksum> { [1] = record.Checksum }));
    }

    [Test]
    public async Task Sender_to_receiver_copies_sparse_and_a_second_run_sends_nothing()
    {
        _store.CreateVolume("s", 16 * Chunk);
        _store.CreateVolume("t", 16 * Chunk);
        using var source = _store.OpenVolume("s", "p/s", WritePath.Empty, CancellationToken.None);
        using var target = _store.OpenVolume("t", "p/t", WritePath.Empty, CancellationToken.None);
        var data = new byte[Chunk];
        new Random(2).NextBytes(data);
        await source.WriteAsync(0, data, WriteOptions.None);
        await source.WriteAsync(5L * Chunk, new byte[Chunk], WriteOptions.None); // allocated zeros
        await source.WriteAsync((9L * Chunk) + 4096, data.AsMemory(0, 8192), WriteOptions.None);
        var layout = ChunkLayout.Create(16 * Chunk, Chunk);
        var journalPath = Path.Combine(_dir.Path, "t.journal");

        var progress = new TransferProgress();
        await using (var receiver = new ChunkReceiver(target, layout, ReceiveJournal.Open(journalPath), null, targetMayHoldData: false))
        {
            var result = await new VolumeSender(source, new LocalSink(receiver), new TransferSettings(Chunk, 2, CompressionMode.Zstd), progress, localPeer: true)
                .RunAsync("t1", incremental: false, overwrite: false, CancellationToken.None);
            Assert.That(result.Sink.BytesWritten, Is.EqualTo(Chunk + 8192), "zeros are holes, not writes");
        }
        Assert.That(progress.ChunksSent, Is.EqualTo(2));
        Assert.That(progress.ChunksZero, Is.EqualTo(1));
        var copy = new byte[16 * Chunk];
        var original = new byte[16 * Chunk];
        await target.ReadAsync(0, copy);
        await source.ReadAsync(0, original);
        Assert.That(copy, Is.EqualTo(original));
        Assert.That(_store.GetVolumeExtents("t").Sum(e => e.Length), Is.LessThanOrEqualTo(Chunk + 8192));

        // resumed from the journal: everything is there already
        var again = new TransferProgress();
        await using (var receiver = new ChunkReceiver(target, layout, ReceiveJournal.Open(journalPath), null, targetMayHoldData: true))
        {
            await new VolumeSender(source, new LocalSink(receiver), new TransferSettings(Chunk, 2, CompressionMode.None), again, localPeer: true)
                .RunAsync("t1", incremental: false, overwrite: false, CancellationToken.None);
        }
        Assert.That(again.ChunksSent, Is.Zero);
        Assert.That(again.BytesSent, Is.Zero);
    }

    /// <summary>Hands chunks straight to a receiver in this process.</summary>
    private sealed class LocalSink(ChunkReceiver receiver) : IChunkSink
    {
        public Task<SinkState> BeginAsync(TransferManifest manifest, CancellationToken ct) =>
            Task.FromResult(new SinkState(receiver.Known, Resumed: receiver.Known.Count > 0));

        public Task SendAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct) => receiver.ReceiveAsync(record, payload, ct);

        public async Task<SinkResult> CompleteAsync(ChunkChecksum digest, CancellationToken ct) =>
            new(receiver.BytesWritten, 0, await receiver.CompleteAsync(digest, ct));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
