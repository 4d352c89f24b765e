using System.Security.Cryptography;
using StoragePool.Core.Errors;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Storage.IO;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>Requests over a real connection with the test client: what each command does and answers.</summary>
[Parallelizable(ParallelScope.All)]
public sealed class RequestTests
{
    private const long VolumeSize = 16L << 20;

    [Test]
    public async Task Trim_makes_a_range_read_as_zeros_and_a_hole()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await client.WriteAsync(0, Filled(1 << 20, 0xab));

        await client.TrimAsync(512 << 10, 512 << 10);

        var data = await client.ReadAsync(0, 1 << 20);
        Assert.That(data.AsSpan(0, 512 << 10).IndexOfAnyExcept((byte)0xab), Is.EqualTo(-1));
        Assert.That(data.AsSpan(512 << 10).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Assert.That(await client.BlockStatusAsync(0, 1 << 20), Is.EqualTo(new[]
        {
            new NbdBlockDescriptor(512 << 10, NbdAllocationFlags.None),
            new NbdBlockDescriptor(512 << 10, NbdAllocationFlags.Hole | NbdAllocationFlags.Zero),
        }));
    }

    [Test]
    public async Task Write_zeroes_passes_no_hole_fast_zero_and_fua_to_the_volume()
    {
        await using var server = await Start();
        var calls = new System.Collections.Concurrent.ConcurrentQueue<VolumeCall>();
        server.Exports.Wrap = volume => new HookedVolume(volume, call =>
        {
            calls.Enqueue(call);
            return ValueTask.CompletedTask;
        });
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await client.WriteAsync(0, Filled(2 << 20, 0x66));

        await client.ZeroAsync(0, 1 << 20, NbdCommandFlags.FastZero);
        await client.ZeroAsync(1 << 20, 1 << 20, NbdCommandFlags.NoHole | NbdCommandFlags.Fua);

        Assert.That(await client.ReadAsync(0, 2 << 20), Has.All.EqualTo((byte)0));
        Assert.That(calls.Where(c => c.Operation == "zero"), Is.EqualTo(new[]
        {
            new VolumeCall("zero", 0, 1 << 20, WriteOptions.FastZero),
            new VolumeCall("zero", 1 << 20, 1 << 20, WriteOptions.NoHole | WriteOptions.Fua),
        }));
        var map = await client.BlockStatusAsync(0, 1 << 20);
        Assert.That(map, Is.EqualTo(new[] { new NbdBlockDescriptor(1 << 20, NbdAllocationFlags.Hole | NbdAllocationFlags.Zero) }));
    }

    [Test]
    public async Task Reads_send_holes_as_holes_and_data_as_data_unless_told_not_to_fragment()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        var data = RandomNumberGenerator.GetBytes(64 << 10);
        await client.WriteAsync(256 << 10, data);

        var small = await client.RequestAsync(NbdCommand.Read, 0, 4096);
        var large = await client.RequestAsync(NbdCommand.Read, 0, 1 << 20);
        var whole = await client.RequestAsync(NbdCommand.Read, 0, 1 << 20, NbdCommandFlags.DontFragment);

        Assert.That((small.HoleChunks, small.DataChunks), Is.EqualTo((1, 0)));
        Assert.That((large.HoleChunks, large.DataChunks), Is.EqualTo((2, 1)));
        Assert.That((whole.HoleChunks, whole.DataChunks), Is.EqualTo((0, 1)));
        Assert.That(large.Data.AsSpan(256 << 10, 64 << 10).SequenceEqual(data));
        Bytes.AssertSame(whole.Data, large.Data, "the unfragmented read");
        Assert.That(small.Data, Has.All.EqualTo((byte)0));
    }

    [Test]
    public async Task Without_structured_replies_reads_are_simple_replies_and_df_is_refused()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol", structured: false);
        await client.WriteAsync(100, Filled(1000, 9));

        var read = await client.RequestAsync(NbdCommand.Read, 0, 2000);
        var df = await client.RequestAsync(NbdCommand.Read, 0, 2000, NbdCommandFlags.DontFragment);
        var error = await client.RequestAsync(NbdCommand.Read, (ulong)VolumeSize, 1);

        Assert.That(read.Data.AsSpan(100, 1000).IndexOfAnyExcept((byte)9), Is.EqualTo(-1));
        Assert.That(client.TransmissionFlags & NbdTransmissionFlags.SendDf, Is.EqualTo(NbdTransmissionFlags.None));
        Assert.That(df.Error, Is.EqualTo(NbdError.Invalid));
        Assert.That(error.Error, Is.EqualTo(NbdError.Invalid));
        Assert.That(await client.ReadAsync(100, 1), Is.EqualTo(new byte[] { 9 }));
    }

    // what the spec says a server SHOULD answer to requests it will not serve; the connection goes on
    [TestCase(NbdCommandValue.Read, 0u, (ulong)VolumeSize, 1u, NbdErrorValue.Invalid, "past the end")]
    [TestCase(NbdCommandValue.Read, 0u, ulong.MaxValue, 1u, NbdErrorValue.Invalid, "past the end")]
    [TestCase(NbdCommandValue.Read, 0u, 0ul, (32u << 20) + 1, NbdErrorValue.Invalid, "maximum block size")]
    [TestCase(NbdCommandValue.Read, NbdFlagValue.DontFragment, 0ul, (32u << 20) + 1, NbdErrorValue.Overflow, "maximum block size")]
    [TestCase(NbdCommandValue.Read, NbdFlagValue.NoHole, 0ul, 512u, NbdErrorValue.Invalid, "not valid on NBD_CMD_READ")]
    [TestCase(NbdCommandValue.Write, 0u, (ulong)VolumeSize - 1, 2u, NbdErrorValue.NoSpace, "past the end")]
    [TestCase(NbdCommandValue.Write, 0x8000u, 0ul, 512u, NbdErrorValue.Invalid, "unknown command flags")]
    [TestCase(NbdCommandValue.WriteZeroes, 0u, (ulong)VolumeSize, 512u, NbdErrorValue.NoSpace, "past the end")]
    [TestCase(NbdCommandValue.Trim, 0u, (ulong)VolumeSize, 512u, NbdErrorValue.Invalid, "past the end")]
    [TestCase(NbdCommandValue.Trim, NbdFlagValue.NoHole, 0ul, 512u, NbdErrorValue.Invalid, "not valid on NBD_CMD_TRIM")]
    [TestCase(NbdCommandValue.Flush, 0u, 512ul, 0u, NbdErrorValue.Invalid, "offset and length 0")]
    [TestCase(NbdCommandValue.BlockStatus, 0u, 0ul, 0u, NbdErrorValue.Invalid, "0 bytes")]
    [TestCase(NbdCommandValue.BlockStatus, 0u, (ulong)VolumeSize, 1u, NbdErrorValue.Invalid, "past the end")]
    [TestCase(NbdCommandValue.Cache, 0u, (ulong)VolumeSize, 1u, NbdErrorValue.Invalid, "past the end")]
    [TestCase(99, 0u, 0ul, 0u, NbdErrorValue.Invalid, "unknown command 99")]
    public async Task A_request_the_server_will_not_serve_gets_its_error_and_the_connection_goes_on(
        int command, uint flags, ulong offset, uint length, int error, string reason)
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        var payload = command == (int)NbdCommand.Write ? new byte[length] : default;

        var reply = await client.RequestAsync((NbdCommand)command, offset, length, (NbdCommandFlags)flags, payload);

        Assert.That(reply.Error, Is.EqualTo((NbdError)error));
        Assert.That(reply.Message, Does.Contain(reason));
        Assert.That(server.Logger.Lines.Count(l => l.EventId == 5021), Is.EqualTo(1), "one log line per refused request");
        await client.WriteAsync(0, Filled(512, 1));
        Assert.That(await client.ReadAsync(0, 512), Has.All.EqualTo((byte)1));
        Assert.That(File.ReadAllBytes(server.Exports.PathOf("pool/vol")).AsSpan(512).IndexOfAnyExcept((byte)0), Is.EqualTo(-1),
            "nothing but the last write reached the volume");
    }

    [Test]
    public async Task A_snapshot_refuses_writes_trims_and_zeroes_with_eperm()
    {
        await using var server = await Start();
        await using (var writer = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol"))
        {
            await writer.WriteAsync(0, Filled(4096, 0x42));
        }
        await server.Exports.AddSnapshotAsync("pool/vol", "s");
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol@s");

        var write = await client.RequestAsync(NbdCommand.Write, 0, 4096, payload: new byte[4096]);
        var trim = await client.RequestAsync(NbdCommand.Trim, 0, 4096);
        var zero = await client.RequestAsync(NbdCommand.WriteZeroes, 0, 4096);
        var flush = await client.RequestAsync(NbdCommand.Flush, 0, 0);

        Assert.That(client.TransmissionFlags & NbdTransmissionFlags.ReadOnly, Is.EqualTo(NbdTransmissionFlags.ReadOnly));
        Assert.That(new[] { write.Error, trim.Error, zero.Error }, Has.All.EqualTo(NbdError.Perm));
        Assert.That(write.Message, Does.Contain("read-only"));
        Assert.That(flush.Error, Is.EqualTo(NbdError.None));
        Assert.That(await client.ReadAsync(0, 4096), Has.All.EqualTo((byte)0x42));
    }

    [Test]
    public async Task Block_status_describes_extents_and_with_req_one_only_the_first()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await client.WriteAsync(1 << 20, Filled(1 << 20, 1));

        var all = await client.BlockStatusAsync(0, (uint)VolumeSize);
        var one = await client.BlockStatusAsync(0, (uint)VolumeSize, NbdCommandFlags.RequestOne);
        var inside = await client.BlockStatusAsync((1 << 20) + 5, 10);

        Assert.That(all, Is.EqualTo(new[]
        {
            new NbdBlockDescriptor(1 << 20, NbdAllocationFlags.Hole | NbdAllocationFlags.Zero),
            new NbdBlockDescriptor(1 << 20, NbdAllocationFlags.None),
            new NbdBlockDescriptor((uint)VolumeSize - (2 << 20), NbdAllocationFlags.Hole | NbdAllocationFlags.Zero),
        }));
        Assert.That(one, Is.EqualTo(new[] { all[0] }));
        Assert.That(inside, Is.EqualTo(new[] { new NbdBlockDescriptor(10, NbdAllocationFlags.None) }));
    }

    [Test]
    public async Task Empty_requests_and_cache_succeed()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");

        var replies = new[]
        {
            await client.RequestAsync(NbdCommand.Read, 0, 0),
            await client.RequestAsync(NbdCommand.Write, 0, 0),
            await client.RequestAsync(NbdCommand.Trim, 0, 0),
            await client.RequestAsync(NbdCommand.WriteZeroes, 0, 0),
            await client.RequestAsync(NbdCommand.Cache, 0, 1 << 20),
            await client.RequestAsync(NbdCommand.Flush, 0, 0, NbdCommandFlags.Fua),
        };

        Assert.That(replies.Select(r => r.Error), Has.All.EqualTo(NbdError.None));
        Assert.That(replies[0].Data, Is.Empty);
    }

    [Test]
    public async Task Volume_errors_become_their_nbd_errors_and_the_connection_goes_on()
    {
        await using var server = await Start();
        server.Exports.Wrap = volume => new HookedVolume(volume, call => call switch
        {
            { Operation: "read", Offset: 4096 } => throw new StoragePoolException(ErrorCode.IoError, "the disk said no"),
            { Operation: "write", Offset: 4096 } => throw new StoragePoolException(ErrorCode.NoSpace, "the pool is full"),
            { Operation: "zero", Options: var o } when (o & WriteOptions.FastZero) != 0 =>
                throw new StoragePoolException(ErrorCode.Unsupported, "cannot zero quickly"),
            { Operation: "trim" } => throw new InvalidOperationException("a bug"),
            _ => ValueTask.CompletedTask,
        });
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");

        var read = await client.RequestAsync(NbdCommand.Read, 4096, 512);
        var write = await client.RequestAsync(NbdCommand.Write, 4096, 512, payload: new byte[512]);
        var zero = await client.RequestAsync(NbdCommand.WriteZeroes, 0, 512, NbdCommandFlags.FastZero);
        var trim = await client.RequestAsync(NbdCommand.Trim, 0, 512);

        Assert.That((read.Error, read.Message), Is.EqualTo((NbdError.IO, "the disk said no")));
        Assert.That((write.Error, write.Message), Is.EqualTo((NbdError.NoSpace, "the pool is full")));
        Assert.That(zero.Error, Is.EqualTo(NbdError.NotSupported));
        Assert.That(trim.Error, Is.EqualTo(NbdError.IO));
        Assert.That(trim.Message, Does.Not.Contain("a bug"), "internal errors stay in the log");
        Assert.That(server.Logger.Lines.Count(l => l.EventId == 5023), Is.EqualTo(2));
        await client.ZeroAsync(0, 512);
        Assert.That(await client.ReadAsync(0, 512), Has.Length.EqualTo(512));
    }

    [Test]
    public async Task Requests_run_at_once_and_replies_come_in_the_order_they_finish()
    {
        await using var server = await Start();
        var slow = new TaskCompletionSource();
        server.Exports.Wrap = volume => new HookedVolume(volume, call =>
            call is { Operation: "read", Offset: 0 } ? new ValueTask(slow.Task) : ValueTask.CompletedTask);
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        await client.WriteAsync(0, data);

        var first = await client.SendAsync(NbdCommand.Read, 0, 4096);
        var others = new List<ulong>();
        for (var i = 1; i < 40; i++)
        {
            others.Add(await client.SendAsync(NbdCommand.Read, (ulong)i * 4096, 4096));
        }
        var early = new List<NbdReply>();
        for (var i = 1; i < 40; i++)
        {
            early.Add(await client.ReceiveAsync());
        }
        slow.SetResult();
        var last = await client.ReceiveAsync();

        Assert.That(early.Select(r => r.Handle), Is.EquivalentTo(others));
        Assert.That(last.Handle, Is.EqualTo(first));
        Assert.That(last.Data, Is.EqualTo(data.AsSpan(0, 4096).ToArray()));
        foreach (var reply in early)
        {
            var offset = (int)(reply.Handle - first) * 4096;
            Assert.That(reply.Data, Is.EqualTo(data.AsSpan(offset, 4096).ToArray()));
        }
    }

    [Test]
    public async Task A_request_stuck_in_the_disk_does_not_hold_up_other_connections()
    {
        Assert.That(DaemonSockets.InlineOnOneThread, Is.True,
            "the test's premise: socket continuations run inline, as in storagepoold, on one event thread (tests/daemon-sockets.runsettings)");
        var patience = TimeSpan.FromSeconds(10);
        await using var server = await Start();
        using var disk = new ManualResetEventSlim();
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // a read that blocks its thread, as pread does on a disk that does not answer
        server.Exports.Wrap = volume => new HookedVolume(volume, call =>
        {
            if (call is { Operation: "read", Offset: 0 })
            {
                reading.TrySetResult();
                disk.Wait(TimeSpan.FromSeconds(60));
            }
            return ValueTask.CompletedTask;
        });
        await using var stuck = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await stuck.SendAsync(NbdCommand.Read, 0, 4096);
        await reading.Task.WaitAsync(patience);
        try
        {
            var other = Task.Run(async () =>
            {
                await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
                await client.WriteAsync(8192, Filled(4096, 0x5a));
                return await client.ReadAsync(8192, 4096);
            });
            Assert.That(await other.WaitAsync(patience), Has.All.EqualTo((byte)0x5a),
                "another client connects, writes and reads while one read is stuck");
        }
        finally
        {
            disk.Set();
        }
        Assert.That((await stuck.ReceiveAsync()).Error, Is.EqualTo(NbdError.None));
    }

    /// <summary>A hook under which a read that copies the bytes on the thread pool (<see cref="IBlockVolume.ReadAsync"/>) fails.</summary>
    private static ValueTask FailCopiedReads(VolumeCall call) => call.Operation == "read"
        ? ValueTask.FromException(new IOException("read on the thread pool, which this test forbids"))
        : ValueTask.CompletedTask;

    [Test]
    public async Task A_small_read_the_page_cache_holds_is_answered_without_the_thread_pool([Values] bool structured)
    {
        await using var server = await Start();
        HookedVolume? hooked = null;
        // only the socket thread's cached read can answer
        server.Exports.Wrap = volume => hooked = new HookedVolume(volume, FailCopiedReads) { ReadsCached = true };
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol", structured);
        var data = RandomNumberGenerator.GetBytes(64 << 10);
        await client.WriteAsync(0, data);

        Assert.That(await client.ReadAsync(4096, 4096), Is.EqualTo(data.AsSpan(4096, 4096).ToArray()));
        Assert.That(await client.ReadAsync(100, 1000), Is.EqualTo(data.AsSpan(100, 1000).ToArray()), "unaligned");
        Assert.That(hooked!.CachedReads, Is.EqualTo(2));
        var large = await client.SendAsync(NbdCommand.Read, 0, 64 << 10);
        Assert.That((await client.ReceiveAsync()).Error, Is.EqualTo(NbdError.IO),
            "a read of 64 KiB or more goes to the pool (holes are sent as holes there), here to the failing hook");
        Assert.That(hooked.CachedReads, Is.EqualTo(2), $"request {large}");
    }

    [Test]
    public async Task A_large_read_the_page_cache_holds_is_sent_from_the_volumes_file([Values] bool structured)
    {
        await using var server = await Start();
        HookedVolume? hooked = null;
        // only the file range can answer
        server.Exports.Wrap = volume => hooked = new HookedVolume(volume, FailCopiedReads) { GivesFileRanges = true };
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol", structured);
        var data = RandomNumberGenerator.GetBytes(3 << 20);
        await client.WriteAsync(0, data);

        // many in flight, so that replies queue behind each other in the sender
        var offsets = new Dictionary<ulong, int>();
        for (var i = 0; i < 8; i++)
        {
            offsets[await client.SendAsync(NbdCommand.Read, (ulong)(i * (256 << 10)), 1 << 20)] = i * (256 << 10);
        }
        for (var i = 0; i < 8; i++)
        {
            var reply = await client.ReceiveAsync();
            Assert.That(reply.Error, Is.EqualTo(NbdError.None), reply.Message);
            var offset = offsets[reply.Handle];
            Bytes.AssertSame(reply.Data!, data.AsSpan(offset, 1 << 20).ToArray(), $"the read at {offset}");
        }
        Assert.That(await client.ReadAsync(100_000, 100_000), Is.EqualTo(data.AsSpan(100_000, 100_000).ToArray()), "unaligned");
        Assert.That(hooked!.FileRanges, Is.EqualTo(9));
    }

    [Test]
    public async Task No_more_requests_run_at_once_than_the_window_allows()
    {
        await using var server = await ServerHarness.StartAsync(o => o with { MaxInFlightPerConnection = 4 },
            e => e.AddVolume("pool/vol", VolumeSize));
        HookedVolume? hooked = null;
        server.Exports.Wrap = volume => hooked = new HookedVolume(volume, async _ => await Task.Delay(5));
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");

        for (var i = 0; i < 64; i++)
        {
            await client.SendAsync(NbdCommand.Write, (ulong)i * 512, 512, payload: Filled(512, (byte)i));
        }
        for (var i = 0; i < 64; i++)
        {
            Assert.That((await client.ReceiveAsync()).Error, Is.EqualTo(NbdError.None));
        }

        Assert.That(hooked!.MaxInFlight, Is.InRange(2, 4));
        var bytes = await client.ReadAsync(0, 64 * 512);
        Assert.That(Enumerable.Range(0, 64).All(i => bytes[i * 512] == i));
    }

    [Test]
    public async Task A_write_acknowledged_on_one_connection_is_read_and_flushed_from_another()
    {
        await using var server = await Start();
        await using var a = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await using var b = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        Assert.That(a.TransmissionFlags & NbdTransmissionFlags.CanMultiConn, Is.EqualTo(NbdTransmissionFlags.CanMultiConn));

        await a.WriteAsync(8192, Filled(8192, 0x99));
        await b.FlushAsync();

        Assert.That(await b.ReadAsync(8192, 8192), Has.All.EqualTo((byte)0x99));
    }

    [Test]
    public async Task Disconnect_finishes_every_request_in_flight_first()
    {
        await using var server = await Start();
        server.Exports.Wrap = volume => new HookedVolume(volume, async _ => await Task.Delay(20));
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");

        for (var i = 0; i < 32; i++)
        {
            await client.SendAsync(NbdCommand.Write, (ulong)i * 4096, 4096, payload: Filled(4096, (byte)(i + 1)));
        }
        await client.SendAsync(NbdCommand.Disconnect, 0, 0);
        var replies = 0;
        while (replies < 32)
        {
            Assert.That((await client.ReceiveAsync()).Error, Is.EqualTo(NbdError.None));
            replies++;
        }

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        var bytes = File.ReadAllBytes(server.Exports.PathOf("pool/vol"));
        Assert.That(Enumerable.Range(0, 32).All(i => bytes[(i * 4096) + 4095] == i + 1));
        Assert.That(() => server.Exports.OpenLeases, Is.Zero.After(5000, 20));
    }

    [Test]
    public async Task A_client_gone_mid_payload_costs_one_log_line_and_no_data()
    {
        await using var server = await Start();
        await using var bystander = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await using (var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol"))
        {
            var header = new byte[NbdLimits.RequestSize];
            NbdCodec.WriteRequest(header, new NbdRequest(0, NbdCommand.Write, 1, 0, 1 << 20));
            await client.WriteRawAsync(header);
            await client.WriteRawAsync(Filled(1000, 0xee));
        }

        Assert.That(() => server.Logger.Lines.Count(l => l.EventId == 5022 && l.Message.Contains("short of", StringComparison.Ordinal)),
            Is.EqualTo(1).After(5000, 20), server.Logger.Warnings());
        Assert.That(await bystander.ReadAsync(0, 4096), Has.All.EqualTo((byte)0));
        Assert.That(File.ReadAllBytes(server.Exports.PathOf("pool/vol")), Has.All.EqualTo((byte)0));
    }

    [Test]
    public async Task Bad_request_magic_ends_that_connection_only()
    {
        await using var server = await Start();
        await using var bystander = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");

        await client.WriteRawAsync(new byte[NbdLimits.RequestSize]);

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(server.Logger.Count(5020), Is.EqualTo(1));
        Assert.That(await bystander.ReadAsync(0, 4096), Has.Length.EqualTo(4096));
    }

    [Test]
    public async Task A_write_too_large_to_skip_ends_the_connection()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        var header = new byte[NbdLimits.RequestSize];
        NbdCodec.WriteRequest(header, new NbdRequest(0, NbdCommand.Write, 1, 0, uint.MaxValue));

        await client.WriteRawAsync(header);

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(server.Logger.Lines.Any(l => l.EventId == 5022 && l.Message.Contains("will read past", StringComparison.Ordinal)));
    }

    [Test]
    public async Task A_revoked_volume_disconnects_its_clients_and_is_given_back()
    {
        await using var server = await Start();
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol");
        await client.WriteAsync(0, Filled(512, 1));
        Assert.That(server.Exports.OpenLeases, Is.EqualTo(1));

        server.Exports.Revoke("pool/vol");

        Assert.That(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.That(() => server.Exports.OpenLeases, Is.Zero.After(5000, 20));
        Assert.That(server.Logger.Count(5024), Is.EqualTo(1));
    }

    internal static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        Array.Fill(bytes, value);
        return bytes;
    }

    private static Task<ServerHarness> Start() => ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));

    // NUnit test cases need public types; the protocol's enums are internal
    public static class NbdCommandValue
    {
        public const int Read = 0, Write = 1, Flush = 3, Trim = 4, Cache = 5, WriteZeroes = 6, BlockStatus = 7;
    }

    public static class NbdFlagValue
    {
        public const uint NoHole = 2, DontFragment = 4;
    }

    public static class NbdErrorValue
    {
        public const int Invalid = 22, NoSpace = 28, Overflow = 75;
    }
}
