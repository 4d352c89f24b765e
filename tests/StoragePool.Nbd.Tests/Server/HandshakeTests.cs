using System.Buffers.Binary;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>Option haggling, byte by byte with the test client: what each option answers, and what ends a connection.</summary>
[Parallelizable(ParallelScope.All)]
public sealed class HandshakeTests
{
    private const long VolumeSize = 8L << 20;

    [Test]
    public async Task The_greeting_offers_fixed_newstyle_and_no_zeroes()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);

        await client.GreetAsync();

        Assert.That(client.ServerFlags, Is.EqualTo(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
    }

    [Test]
    public async Task Info_tells_size_flags_and_block_sizes_without_entering_transmission()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        var info = await client.InfoAsync(NbdOption.Info, "pool/vol");

        Assert.That(info[^1].Type, Is.EqualTo(NbdOptionReply.Ack));
        Assert.That(client.Size, Is.EqualTo(VolumeSize));
        Assert.That(client.MaxBlock, Is.EqualTo(32u << 20));
        Assert.That(client.TransmissionFlags, Is.EqualTo(NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush
            | NbdTransmissionFlags.SendFua | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes
            | NbdTransmissionFlags.SendFastZero | NbdTransmissionFlags.CanMultiConn | NbdTransmissionFlags.SendCache));
        Assert.That(info.Where(r => r.Type == NbdOptionReply.Info).Select(r => NbdCodec.ReadInfoType(r.Payload)),
            Is.EquivalentTo(new[] { NbdInfo.Export, NbdInfo.BlockSize, NbdInfo.Name }));
        // still haggling: another option is answered, and the lease was given back
        Assert.That(await client.ListAsync(), Is.EquivalentTo(new[] { "pool/snap", "pool/snap@s", "pool/vol" }));
        Assert.That(server.Exports.OpenLeases, Is.Zero);
        await client.GoAsync("pool/vol");
        Assert.That(client.TransmissionFlags & NbdTransmissionFlags.SendDf, Is.EqualTo(NbdTransmissionFlags.SendDf));
    }

    [Test]
    public async Task Go_on_an_unknown_export_is_answered_unknown_and_the_client_may_try_again()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        var replies = await client.InfoAsync(NbdOption.Go, "pool/nope");

        Assert.That(replies.Single().Type, Is.EqualTo(NbdOptionReply.ErrUnknown));
        Assert.That(System.Text.Encoding.UTF8.GetString(replies[0].Payload), Does.Contain("pool/nope"));
        await client.GoAsync("pool/vol");
        Assert.That(await client.ReadAsync(0, 4096), Has.Length.EqualTo(4096));
    }

    [Test]
    public async Task An_unknown_option_is_unsupported_and_the_next_one_is_read()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        var unknown = await client.OptionAsync((NbdOption)0x1234, new byte[1000]);
        var extended = await client.OptionAsync(NbdOption.ExtendedHeaders);

        Assert.That(unknown.Single().Type, Is.EqualTo(NbdOptionReply.ErrUnsupported));
        Assert.That(extended.Single().Type, Is.EqualTo(NbdOptionReply.ErrUnsupported));
        Assert.That(await client.ListAsync(), Has.Count.EqualTo(3));
    }

    [TestCase((uint)NbdOption.List)]
    [TestCase((uint)NbdOption.StructuredReply)]
    [TestCase((uint)NbdOption.StartTls)]
    public async Task An_option_that_takes_no_data_is_invalid_with_data(uint value)
    {
        var option = (NbdOption)value;
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        var replies = await client.OptionAsync(option, new byte[3]);

        Assert.That(replies.Single().Type, Is.EqualTo(NbdOptionReply.ErrInvalid));
    }

    [Test]
    public async Task Malformed_info_and_meta_context_requests_are_invalid()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        // name length past the end of the data
        var go = new byte[10];
        BinaryPrimitives.WriteUInt32BigEndian(go, 100);
        Assert.That((await client.OptionAsync(NbdOption.Go, go)).Single().Type, Is.EqualTo(NbdOptionReply.ErrInvalid));
        // meta contexts before structured replies
        var meta = new byte[NbdCodec.MetaContextRequestSize("pool/vol", [])];
        NbdCodec.WriteMetaContextRequest(meta, "pool/vol", []);
        Assert.That((await client.OptionAsync(NbdOption.SetMetaContext, meta)).Single().Type, Is.EqualTo(NbdOptionReply.ErrInvalid));
        // a query count that the data cannot hold
        Assert.That((await client.OptionAsync(NbdOption.StructuredReply)).Single().Type, Is.EqualTo(NbdOptionReply.Ack));
        BinaryPrimitives.WriteUInt32BigEndian(meta.AsSpan(meta.Length - 4), 1000);
        Assert.That((await client.OptionAsync(NbdOption.ListMetaContext, meta)).Single().Type, Is.EqualTo(NbdOptionReply.ErrInvalid));
        // still serving
        await client.GoAsync("pool/vol");
    }

    [Test]
    public async Task Meta_contexts_list_and_select_base_allocation_only()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();
        await client.OptionAsync(NbdOption.StructuredReply);

        Assert.That(await Contexts(client, NbdOption.ListMetaContext), Is.EqualTo(new[] { "base:allocation" }));
        Assert.That(await Contexts(client, NbdOption.ListMetaContext, "base:"), Is.EqualTo(new[] { "base:allocation" }));
        Assert.That(await Contexts(client, NbdOption.ListMetaContext, "qemu:dirty-bitmap:x"), Is.Empty);
        Assert.That(await Contexts(client, NbdOption.SetMetaContext), Is.Empty);
        Assert.That(await Contexts(client, NbdOption.SetMetaContext, "base:"), Is.Empty);
        Assert.That(await Contexts(client, NbdOption.SetMetaContext, "x-foo:bar", "base:allocation"), Is.EqualTo(new[] { "base:allocation" }));
    }

    [Test]
    public async Task Block_status_needs_the_context_selected_for_the_export_chosen()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();
        await client.NegotiateStructuredAsync("pool/snap@s");

        await client.GoAsync("pool/vol", structured: false);
        var reply = await client.RequestAsync(NbdCommand.BlockStatus, 0, 4096);

        Assert.That(reply.Error, Is.EqualTo(NbdError.Invalid));
        Assert.That(reply.Message, Does.Contain("metadata context"));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task Export_name_enters_transmission_with_or_without_the_124_zeroes(bool noZeroes)
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync(noZeroes ? 3u : 1u);

        await client.SendOptionAsync(NbdOption.ExportName, "pool/vol"u8.ToArray());
        var reply = await client.ReadExactlyAsync(10 + (noZeroes ? 0 : 124));

        Assert.That(BinaryPrimitives.ReadUInt64BigEndian(reply), Is.EqualTo((ulong)VolumeSize));
        Assert.That(reply.AsSpan(10).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        var read = await client.RequestAsync(NbdCommand.Read, 0, 512);
        Assert.That(read.Data, Has.Length.EqualTo(512), "simple replies: no structured replies were asked for");
    }

    [Test]
    public async Task Export_name_of_an_unknown_export_ends_the_connection()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        await client.SendOptionAsync(NbdOption.ExportName, "pool/nope"u8.ToArray());

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(server.Logger.Lines.Any(l => l.EventId == 5010 && l.Message.Contains("pool/nope", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Abort_is_acknowledged_and_the_connection_closed()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        var replies = await client.OptionAsync(NbdOption.Abort);

        Assert.That(replies.Single().Type, Is.EqualTo(NbdOptionReply.Ack));
        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
    }

    [TestCase("unknown client flags")]
    [TestCase("bad option magic")]
    [TestCase("at most")]
    [TestCase("short of")]
    public async Task A_handshake_that_cannot_be_parsed_past_ends_that_connection_only(string reason)
    {
        await using var server = await Start();
        await using var bystander = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);

        switch (reason)
        {
            case "unknown client flags":
                await client.GreetAsync(0x80000001);
                break;
            case "bad option magic":
                await client.GreetAsync();
                await client.WriteRawAsync(new byte[16]);
                break;
            case "at most":
                await client.GreetAsync();
                var header = new byte[16];
                NbdCodec.WriteOptionHeader(header, NbdOption.Go, uint.MaxValue);
                await client.WriteRawAsync(header);
                break;
            case "short of":
                await client.GreetAsync();
                var truncated = new byte[16 + 10];
                NbdCodec.WriteOptionHeader(truncated, NbdOption.Go, 100);
                await client.WriteRawAsync(truncated);
                client.ShutdownSend();
                break;
        }

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(() => server.Logger.Lines.Count(l => l.EventId is 5010 or 5022 && l.Message.Contains(reason, StringComparison.Ordinal)),
            Is.EqualTo(1).After(5000, 20), server.Logger.Warnings());
        Assert.That(await bystander.ReadAsync(0, 4096), Has.Length.EqualTo(4096));
    }

    [Test]
    public async Task A_client_that_never_chooses_an_export_is_dropped_after_the_handshake_timeout()
    {
        await using var server = await Start(o => o with { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await NbdTestClient.ConnectAsync(server.SocketPath);
        await client.GreetAsync();

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(server.Logger.Lines.Any(l => l.EventId == 5010 && l.Message.Contains("no export was chosen", StringComparison.Ordinal)));
    }

    private static async Task<List<string>> Contexts(NbdTestClient client, NbdOption option, params string[] queries)
    {
        var data = new byte[NbdCodec.MetaContextRequestSize("pool/vol", queries)];
        NbdCodec.WriteMetaContextRequest(data, "pool/vol", queries);
        var replies = await client.OptionAsync(option, data);
        Assert.That(replies[^1].Type, Is.EqualTo(NbdOptionReply.Ack));
        return [.. replies.Where(r => r.Type == NbdOptionReply.MetaContext).Select(r =>
        {
            Assert.That(NbdCodec.TryReadMetaContext(r.Payload, out var id, out var name));
            Assert.That(id, option == NbdOption.ListMetaContext ? Is.Zero : Is.Not.Zero);
            return name;
        })];
    }

    private static async Task<ServerHarness> Start(Func<NbdServerOptions, NbdServerOptions>? configure = null)
    {
        var server = await ServerHarness.StartAsync(configure, e =>
        {
            e.AddVolume("pool/vol", VolumeSize);
            e.AddVolume("pool/snap", VolumeSize);
        });
        await server.Exports.AddSnapshotAsync("pool/snap", "s");
        return server;
    }
}
