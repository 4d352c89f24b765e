using System.Security.Cryptography;
using System.Text.Json;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Clients;

/// <summary>qemu-img and qemu-io, as a user would run them, against volumes served by the NBD server.</summary>
[Parallelizable(ParallelScope.All)]
public sealed class QemuTests
{
    private const long VolumeSize = 64L << 20;

    [OneTimeSetUp]
    public void RequireTools() => NbdClients.Require("qemu-img", "qemu-io");

    [Test]
    public async Task Qemu_img_info_shows_the_volume_size()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));

        var info = JsonDocument.Parse(await Tools.OutputAsync("qemu-img", "info", "--output=json", server.UnixUri("pool/vol"))).RootElement;

        Assert.That(info.GetProperty("virtual-size").GetInt64(), Is.EqualTo(VolumeSize));
    }

    [Test]
    public async Task Qemu_reaches_a_volume_over_loopback_tcp_without_tls()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.TcpUri("pool/vol");

        await QemuIoAsync(uri, "write -P 0x61 0 128k");
        await QemuIoAsync(uri, "read -P 0x61 0 128k");
        var info = JsonDocument.Parse(await Tools.OutputAsync("qemu-img", "info", "--output=json", uri)).RootElement;

        Assert.That(info.GetProperty("virtual-size").GetInt64(), Is.EqualTo(VolumeSize));
    }

    [Test]
    public async Task Qemu_io_pattern_writes_zeroes_discards_and_unaligned_io_read_back()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");

        await QemuIoAsync(uri,
            "write -P 0xab 0 1M",
            "write -P 0xcd 4M 64k",
            "write -z 4M 32k",
            "discard 512k 512k",
            "write -P 0x11 2000001 3333",
            "aio_write -P 0x22 8M 64k",
            "aio_write -P 0x33 9M 64k",
            "aio_flush",
            "write -f -P 0x44 10M 4k");
        await QemuIoAsync(uri,
            "read -P 0xab 0 512k",
            "read -P 0 512k 512k",
            "read -P 0 4M 32k",
            "read -P 0xcd 4128k 32k",
            "read -P 0x11 2000001 3333",
            "read -P 0 2000000 1",
            "read -P 0 2003334 1",
            "read -P 0x22 8M 64k",
            "read -P 0x33 9M 64k",
            "read -P 0x44 10M 4k");

        // and the bytes are in the volume's file, where qemu-io said
        var bytes = await File.ReadAllBytesAsync(server.Exports.PathOf("pool/vol"));
        Assert.That(bytes.AsSpan(0, 512 << 10).IndexOfAnyExcept((byte)0xab), Is.EqualTo(-1));
        Assert.That(bytes.AsSpan(512 << 10, 512 << 10).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Assert.That(bytes.AsSpan(2000001, 3333).IndexOfAnyExcept((byte)0x11), Is.EqualTo(-1));
    }

    [Test]
    public async Task Qemu_img_convert_in_and_out_and_compare_agree_byte_for_byte()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");
        var source = Path.Combine(server.Directory, "source.raw");
        WriteSparseImage(source, VolumeSize, seed: 1);

        await Tools.OutputAsync("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source, uri);
        Assert.That((await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, uri)).ExitCode, Is.Zero,
            "qemu-img compare found the export different from what was converted into it");

        var back = Path.Combine(server.Directory, "back.raw");
        await Tools.OutputAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, back);
        Bytes.AssertSame(File.ReadAllBytes(back), File.ReadAllBytes(source), "the image converted out of the export");

        // a changed byte is a difference qemu-img compare sees
        await QemuIoAsync(uri, "write -P 0x5a 33M 512");
        var compare = await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, uri);
        Assert.That(compare.ExitCode, Is.EqualTo(1), compare.ToString());
    }

    [Test]
    public async Task Qemu_img_map_shows_data_only_where_it_was_written()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        var uri = server.UnixUri("pool/vol");
        await QemuIoAsync(uri, "write -P 1 8M 1M", "write -P 2 40M 64k");

        var map = JsonDocument.Parse(await Tools.OutputAsync("qemu-img", "map", "--output=json", "-f", "raw", uri)).RootElement;

        var data = map.EnumerateArray()
            .Where(e => e.GetProperty("data").GetBoolean())
            .Select(e => (e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64()))
            .ToList();
        Assert.That(data, Is.EqualTo(new[] { (8L << 20, 1L << 20), (40L << 20, 64L << 10) }));
        var total = map.EnumerateArray().Sum(e => e.GetProperty("length").GetInt64());
        Assert.That(total, Is.EqualTo(VolumeSize));
        Assert.That(map.EnumerateArray().Where(e => !e.GetProperty("data").GetBoolean()).All(e => e.GetProperty("zero").GetBoolean()));
    }

    [Test]
    public async Task A_snapshot_export_is_read_only_for_qemu()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        await QemuIoAsync(server.UnixUri("pool/vol"), "write -P 0x77 0 64k");
        await server.Exports.AddSnapshotAsync("pool/vol", "snap");
        var snapshot = server.UnixUri("pool/vol@snap");

        await QemuIoAsync(snapshot, readOnly: true, "read -P 0x77 0 64k");
        var write = await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 1 0 4k", snapshot);

        Assert.That(write.Stdout + write.Stderr, Does.Contain("read-only").Or.Contain("Permission denied").Or.Contain("Operation not permitted"));
        Assert.That(File.ReadAllBytes(server.Exports.PathOf("pool/vol@snap")).AsSpan(0, 64 << 10).IndexOfAnyExcept((byte)0x77), Is.EqualTo(-1));
    }

    /// <summary>Runs qemu-io commands on a raw NBD image; fails on any error message (qemu-io exits 0 even then).</summary>
    internal static Task QemuIoAsync(string uri, params string[] commands) => QemuIoAsync(uri, readOnly: false, commands);

    /// <summary>Runs qemu-io commands (discards passed through, not ignored); fails on any error message (qemu-io exits 0 even then).</summary>
    internal static async Task QemuIoAsync(string uri, bool readOnly, params string[] commands)
    {
        var arguments = new List<string> { "-f", "raw", "-d", "unmap" };
        if (readOnly)
        {
            arguments.Add("-r");
        }
        foreach (var command in commands)
        {
            arguments.Add("-c");
            arguments.Add(command);
        }
        arguments.Add(uri);
        var result = await Tools.RunAsync("qemu-io", [.. arguments]);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain("fail").IgnoreCase.And.Not.Contain("error").IgnoreCase
            .And.Not.Contain("Pattern verification").IgnoreCase, result.ToString());
    }

    /// <summary>A sparse image: random data in some 1 MiB blocks, zeros written in others, holes elsewhere.</summary>
    internal static void WriteSparseImage(string path, long size, int seed)
    {
        var random = new Random(seed);
        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        RandomAccess.SetLength(file, size);
        var block = new byte[1 << 20];
        for (long offset = 0; offset < size; offset += block.Length)
        {
            switch (random.Next(4))
            {
                case 0:
                    RandomNumberGenerator.Fill(block);
                    RandomAccess.Write(file, block, offset);
                    break;
                case 1:
                    Array.Clear(block);
                    RandomAccess.Write(file, block, offset);
                    break;
            }
        }
    }
}
