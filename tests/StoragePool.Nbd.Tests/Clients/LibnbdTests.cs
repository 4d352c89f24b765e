using System.Text.Json;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Clients;

/// <summary>libnbd's tools (nbdinfo, nbdcopy) against the server: what they list, map, report and copy.</summary>
[Parallelizable(ParallelScope.All)]
public sealed class LibnbdTests
{
    private const long VolumeSize = 32L << 20;

    [OneTimeSetUp]
    public void RequireTools() => NbdClients.Require("nbdinfo", "nbdcopy", "qemu-io");

    [Test]
    public async Task Nbdinfo_lists_every_volume_and_snapshot_with_what_it_can_do()
    {
        await using var server = await ServerHarness.StartAsync(populate: e =>
        {
            e.AddVolume("pool/a", VolumeSize);
            e.AddVolume("pool/b", 2 * VolumeSize);
        });
        await server.Exports.AddSnapshotAsync("pool/a", "s1");

        var list = JsonDocument.Parse(await Tools.OutputAsync("nbdinfo", "--list", "--json", $"nbd+unix://?socket={server.SocketPath}")).RootElement;

        Assert.That(list.GetProperty("protocol").GetString(), Is.EqualTo("newstyle-fixed"));
        Assert.That(list.GetProperty("structured").GetBoolean());
        var exports = list.GetProperty("exports").EnumerateArray().ToDictionary(e => e.GetProperty("export-name").GetString()!);
        Assert.That(exports.Keys, Is.EquivalentTo(new[] { "pool/a", "pool/b", "pool/a@s1" }));
        Assert.That(exports["pool/b"].GetProperty("export-size").GetInt64(), Is.EqualTo(2 * VolumeSize));
        Assert.That(exports["pool/a"].GetProperty("is_read_only").GetBoolean(), Is.False);
        Assert.That(exports["pool/a@s1"].GetProperty("is_read_only").GetBoolean(), Is.True);
        Assert.That(exports["pool/a"].GetProperty("contexts").EnumerateArray().Select(c => c.GetString()), Does.Contain("base:allocation"));
        Assert.That(exports["pool/a"].GetProperty("block_size_maximum").GetInt64(), Is.EqualTo(32 << 20));
    }

    [Test]
    public async Task Nbdinfo_map_shows_holes_where_nothing_was_written()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");
        await QemuTests.QemuIoAsync(uri, "write -P 7 1M 1M", "write -P 8 20M 256k");

        var map = JsonDocument.Parse(await Tools.OutputAsync("nbdinfo", "--map", "--json", uri)).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("offset").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("description").GetString()))
            .ToList();

        Assert.That(map, Is.EqualTo(new[]
        {
            (0L, 1L << 20, "hole,zero"),
            (1L << 20, 1L << 20, "data"),
            (2L << 20, 18L << 20, "hole,zero"),
            (20L << 20, 256L << 10, "data"),
            ((20L << 20) + (256 << 10), VolumeSize - (20L << 20) - (256 << 10), "hole,zero"),
        }));
    }

    [TestCase("trim")]
    [TestCase("zero")]
    [TestCase("fast-zero")]
    [TestCase("fua")]
    [TestCase("flush")]
    [TestCase("multi-conn")]
    [TestCase("cache")]
    [TestCase("df")]
    public async Task Nbdinfo_says_a_volume_can(string feature)
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));

        var result = await Tools.RunAsync("nbdinfo", "--can", feature, server.UnixUri("pool/vol"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
    }

    [Test]
    public async Task Nbdinfo_says_a_snapshot_is_read_only_and_cannot_trim_or_zero()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        await server.Exports.AddSnapshotAsync("pool/vol", "snap");
        var uri = server.UnixUri("pool/vol@snap");

        Assert.That((await Tools.RunAsync("nbdinfo", "--is", "readonly", uri)).ExitCode, Is.Zero);
        Assert.That((await Tools.RunAsync("nbdinfo", "--can", "trim", uri)).ExitCode, Is.EqualTo(2));
        Assert.That((await Tools.RunAsync("nbdinfo", "--can", "zero", uri)).ExitCode, Is.EqualTo(2));
        Assert.That((await Tools.RunAsync("nbdinfo", "--can", "multi-conn", uri)).ExitCode, Is.Zero);
    }

    [Test]
    public async Task Nbdcopy_copies_into_a_volume_and_out_again_sparsely()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");
        var source = Path.Combine(server.Directory, "source.raw");
        QemuTests.WriteSparseImage(source, VolumeSize, seed: 2);

        await Tools.OutputAsync("nbdcopy", "--connections=4", "--requests=16", source, uri);
        var back = Path.Combine(server.Directory, "back.raw");
        await Tools.OutputAsync("nbdcopy", "--connections=4", uri, back);

        Bytes.AssertSame(File.ReadAllBytes(server.Exports.PathOf("pool/vol")), File.ReadAllBytes(source), "the volume copied into");
        Bytes.AssertSame(File.ReadAllBytes(back), File.ReadAllBytes(source), "the copy out of the volume");
        // nbdcopy skipped the holes: the copy out is sparse where the volume is
        var map = await Tools.OutputAsync("nbdinfo", "--map", uri);
        Assert.That(map, Does.Contain("hole,zero"));
    }

    [Test]
    public async Task Nbdcopy_from_a_snapshot_gets_the_bytes_of_the_moment_it_was_taken()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");
        await QemuTests.QemuIoAsync(uri, "write -P 0x31 0 4M");
        await server.Exports.AddSnapshotAsync("pool/vol", "before");
        await QemuTests.QemuIoAsync(uri, "write -P 0x32 0 4M");

        var copy = Path.Combine(server.Directory, "snap.raw");
        await Tools.OutputAsync("nbdcopy", server.UnixUri("pool/vol@before"), copy);

        var bytes = File.ReadAllBytes(copy);
        Assert.That(bytes.AsSpan(0, 4 << 20).IndexOfAnyExcept((byte)0x31), Is.EqualTo(-1));
        Assert.That(bytes.AsSpan(4 << 20).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
    }
}
