using StoragePool.Core.Errors;
using StoragePool.Core.Extents;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Tests;

public sealed class ChunkTests
{
    [Test]
    public void Checksum_is_xxh3_128_and_round_trips_as_hex_and_bytes()
    {
        // XXH3-128 of no bytes, as xxhsum -H2 prints it
        Assert.That(ChunkChecksum.Of([]).ToString(), Is.EqualTo("99aa06d3014798d86001c324468d497f"));
        var checksum = ChunkChecksum.Of("storagepool"u8);
        Assert.That(ChunkChecksum.Parse(checksum.ToString()), Is.EqualTo(checksum));
        var bytes = new byte[ChunkChecksum.Size];
        checksum.WriteTo(bytes);
        Assert.That(ChunkChecksum.Read(bytes), Is.EqualTo(checksum));
        Assert.That(ChunkChecksum.Of("storagepoo1"u8), Is.Not.EqualTo(checksum));
        Assert.That(ChunkChecksum.OfZeros(4096), Is.EqualTo(ChunkChecksum.Of(new byte[4096])));
        Assert.That(() => ChunkChecksum.Parse("xyz"), Throws.TypeOf<StoragePoolException>());
    }

    [Test]
    public void Zstd_round_trips_and_says_when_data_does_not_shrink()
    {
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("volume db1 wrote 4096 bytes at offset 8192\n", 2000)));
        var packed = new byte[Zstd.CompressBound(text.Length)];
        var n = Zstd.TryCompress(text, packed);
        Assert.That(n, Is.InRange(1, text.Length / 10));
        var back = new byte[text.Length];
        Zstd.Decompress(packed.AsSpan(0, n), back);
        Assert.That(back, Is.EqualTo(text));

        var random = new byte[1 << 20];
        new Random(7).NextBytes(random);
        Assert.That(Zstd.TryCompress(random, new byte[random.Length - (random.Length / 20)]), Is.EqualTo(-1));
        Assert.That(() => Zstd.Decompress(packed.AsSpan(0, n - 1), back),
            Throws.TypeOf<StoragePoolException>().With.Property(nameof(StoragePoolException.Code)).EqualTo(ErrorCode.ChecksumMismatch));
    }

    [Test]
    public void Records_round_trip_and_bad_ones_are_refused()
    {
        var layout = ChunkLayout.Create(10 << 20, 4 << 20);
        Assert.That(layout.Count, Is.EqualTo(3));
        Assert.That(layout.LengthOf(2), Is.EqualTo(2 << 20));
        var record = new ChunkRecord(2, ChunkKind.Raw, 2 << 20, 2 << 20, ChunkChecksum.Of("x"u8));
        var header = new byte[ChunkRecord.HeaderSize];
        record.WriteTo(header);
        Assert.That(ChunkRecord.Read(header), Is.EqualTo(record));
        record.Validate(layout);

        Assert.That(() => (record with { Index = 3 }).Validate(layout), Throws.TypeOf<StoragePoolException>().With.Message.Contains("outside"));
        Assert.That(() => (record with { Length = 4 << 20, PayloadLength = 4 << 20 }).Validate(layout), Throws.TypeOf<StoragePoolException>());
        Assert.That(() => (record with { Kind = ChunkKind.Zero }).Validate(layout), Throws.TypeOf<StoragePoolException>().With.Message.Contains("payload"));
        Assert.That(() => (record with { Kind = (ChunkKind)9 }).Validate(layout), Throws.TypeOf<StoragePoolException>().With.Message.Contains("unknown kind"));
        Assert.That(() => ChunkLayout.Create(1 << 30, 5000), Throws.TypeOf<StoragePoolException>());
    }

    [Test]
    public void Used_block_map_gives_each_chunk_its_data_ranges()
    {
        var layout = ChunkLayout.Create(32 << 20, 4 << 20);
        var map = new UsedBlockMap([new Extent(1 << 20, 4 << 20), new Extent(20 << 20, 4096), new Extent(20 << 20, 8192)]);
        Assert.That(map.DataBytes, Is.EqualTo((4 << 20) + 8192));
        Assert.That(map.ChunksWithData(layout), Is.EqualTo(new long[] { 0, 1, 5 }));
        var ranges = new List<Extent>();
        map.RangesIn(layout, 1, ranges);
        Assert.That(ranges, Is.EqualTo(new[] { new Extent(0, 1 << 20) }));
        map.RangesIn(layout, 2, ranges);
        Assert.That(ranges, Is.Empty);
        map.RangesIn(layout, 5, ranges);
        Assert.That(ranges, Is.EqualTo(new[] { new Extent(0, 8192) }));
    }

    [Test]
    public void Auto_compression_pays_only_where_sending_is_the_bottleneck()
    {
        static bool After(CompressionPolicy policy, int outBytes, bool queueFull)
        {
            policy.Compressed(4 << 20, outBytes, 0.004); // ~1 GB/s
            for (var i = 0; i < 30; i++)
            {
                policy.Queued(queueFull);
            }
            policy.ShouldCompress(); // the first two are probes
            policy.ShouldCompress();
            return policy.ShouldCompress();
        }

        Assert.That(After(new CompressionPolicy(CompressionMode.Auto, localPeer: false, null), 1 << 20, queueFull: true), Is.True,
            "the link holds chunks back and they shrink 4:1");
        Assert.That(After(new CompressionPolicy(CompressionMode.Auto, localPeer: false, null), 1 << 20, queueFull: false), Is.False,
            "reading is the bottleneck: compressing would only slow it");
        Assert.That(After(new CompressionPolicy(CompressionMode.Auto, localPeer: false, 100e6), 1 << 20, queueFull: false), Is.True,
            "a 100 MB/s cap is slower than zstd");
        Assert.That(After(new CompressionPolicy(CompressionMode.Auto, localPeer: false, 100e6), 4 << 20, queueFull: true), Is.False,
            "data that does not shrink goes raw");
        Assert.That(After(new CompressionPolicy(CompressionMode.Auto, localPeer: true, 100e6), 1 << 20, queueFull: true), Is.False,
            "never for a receiver on this host");

        Assert.That(new CompressionPolicy(CompressionMode.None, false, 1).ShouldCompress(), Is.False);
        Assert.That(new CompressionPolicy(CompressionMode.Zstd, true, null).ShouldCompress(), Is.True);
        Assert.That(() => CompressionModes.Parse("lz4"), Throws.TypeOf<StoragePoolException>());
    }

    [Test]
    public async Task Rate_limiter_holds_the_rate_and_refuses_zero()
    {
        Assert.That(() => new RateLimiter(0), Throws.TypeOf<StoragePoolException>().With.Message.Contains("never move a byte"));
        var limiter = new RateLimiter(8 << 20);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 6; i++)
        {
            await limiter.WaitAsync(1 << 20, CancellationToken.None);
        }
        // 6 MiB at 8 MiB/s with a 2 MiB burst: at least (6 - 2) / 8 s
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(450)));
    }
}
