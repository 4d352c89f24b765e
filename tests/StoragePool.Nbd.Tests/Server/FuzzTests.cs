using System.Diagnostics;
using System.Security.Cryptography;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Clients;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>
/// Hostile clients for a bounded time: random bytes, broken and truncated option and request frames, bad magic,
/// huge lengths, unknown commands, disconnects in the middle of payloads, many at once. Afterwards the server
/// still serves a good client and the volume holds exactly the bytes it held before: the fuzzer never sends a
/// write the server may accept (every write-like request it sends to the writable volume is broken on purpose or
/// cut short; to the read-only snapshot it sends anything).
/// </summary>
[NonParallelizable]
public sealed class FuzzTests
{
    private const long VolumeSize = 4L << 20;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(3);
    private const int Workers = 8;

    [Test]
    public async Task Hostile_frames_leave_the_server_serving_and_the_volume_unchanged()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("NBD_FUZZ_SEED"), out var fixedSeed) ? fixedSeed : Random.Shared.Next();
        await TestContext.Out.WriteLineAsync($"fuzz seed {seed} (NBD_FUZZ_SEED={seed} repeats this run)");
        await using var server = await ServerHarness.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(2) },
            e => e.AddVolume("pool/vol", VolumeSize));
        await using (var writer = await NbdTestClient.OpenAsync(server.SocketPath, "pool/vol"))
        {
            await writer.WriteAsync(0, RandomNumberGenerator.GetBytes(1 << 20));
            await writer.WriteAsync(3 << 20, RandomNumberGenerator.GetBytes(512 << 10));
            await writer.FlushAsync();
        }
        await server.Exports.AddSnapshotAsync("pool/vol", "s");
        var before = Path.Combine(server.Directory, "before.img");
        File.Copy(server.Exports.PathOf("pool/vol"), before);

        var deadline = Stopwatch.StartNew();
        var connections = 0;
        var workers = Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            for (var round = 0; deadline.Elapsed < Duration; round++)
            {
                var random = new Random(HashCode.Combine(seed, worker, round));
                Interlocked.Increment(ref connections);
                await OneConnectionAsync(server, random);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await TestContext.Out.WriteLineAsync($"{connections} hostile connections in {deadline.Elapsed.TotalSeconds:0.0} s; " +
            $"{server.Logger.Lines.Count(l => l.Level >= Microsoft.Extensions.Logging.LogLevel.Warning)} warnings logged; by event id: " +
            string.Join(", ", server.Logger.Lines.GroupBy(l => l.EventId).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));

        Assert.That(() => server.Server.ConnectionCount, Is.Zero.After(10_000, 50), "every hostile connection ended");
        Assert.That(() => server.Exports.OpenLeases, Is.Zero.After(5_000, 50), "every volume opened was given back");
        Assert.That(server.Logger.Lines.Where(l => l.EventId == 5026).Select(l => $"{l.Message}: {l.Exception}"), Is.Empty,
            "no connection failed for a reason the server did not expect");
        var after = await File.ReadAllBytesAsync(server.Exports.PathOf("pool/vol"));
        var expected = await File.ReadAllBytesAsync(before);
        Bytes.AssertSame(after, expected, "the volume after the fuzzing");
        NbdClients.Require("qemu-img", "qemu-io");
        var compare = await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", before, server.UnixUri("pool/vol"));
        Assert.That(compare.ExitCode, Is.Zero, compare.ToString());
        await QemuTests.QemuIoAsync(server.UnixUri("pool/vol"), "write -P 0x3c 2M 64k", "read -P 0x3c 2M 64k");
    }

    private static async Task OneConnectionAsync(ServerHarness server, Random random)
    {
        NbdTestClient client;
        try
        {
            client = await NbdTestClient.ConnectAsync(server.SocketPath);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return;
        }
        await using (client)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var drain = Task.CompletedTask;
            try
            {
                switch (random.Next(3))
                {
                    case 0:
                        drain = DrainAsync(client, stop.Token);
                        await client.WriteRawAsync(RandomBytes(random, random.Next(2000)));
                        break;
                    case 1:
                        await client.ReadExactlyAsync(NbdLimits.GreetingSize);
                        drain = DrainAsync(client, stop.Token);
                        await HostileOptionsAsync(client, random);
                        break;
                    default:
                        var snapshot = random.Next(3) == 0;
                        await client.GreetAsync();
                        await client.GoAsync(snapshot ? "pool/vol@s" : "pool/vol", structured: random.Next(4) != 0);
                        drain = DrainAsync(client, stop.Token);
                        await HostileRequestsAsync(client, random, snapshot);
                        break;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidDataException
                or EndOfStreamException or NbdOptionException or ObjectDisposedException)
            {
                // the server hung up on us: that is its right
            }
            await stop.CancelAsync();
            await drain;
        }
    }

    /// <summary>A valid greeting, then option frames of every kind of wrong.</summary>
    private static async Task HostileOptionsAsync(NbdTestClient client, Random random)
    {
        var flags = random.Next(4) == 0 ? (uint)random.Next() : (uint)random.Next(4);
        var frame = new byte[4];
        NbdCodec.WriteClientFlags(frame, flags);
        await client.WriteRawAsync(frame);
        for (var i = random.Next(1, 8); i > 0; i--)
        {
            var option = random.Next(3) == 0 ? (NbdOption)random.Next() : (NbdOption)random.Next(1, 12);
            var data = RandomBytes(random, random.Next(3) == 0 ? random.Next(5000) : random.Next(40));
            var claimed = (uint)data.Length;
            switch (random.Next(8))
            {
                case 0:
                    claimed = (uint)random.Next(); // longer than what follows, or huge
                    break;
                case 1:
                    data = [.. data.Take(data.Length / 2)];
                    break;
            }
            if (option == NbdOption.ExportName || (option == NbdOption.Go && data.Length >= 4))
            {
                // may even name the volume: entering transmission is fine, nothing will be written
                option = random.Next(2) == 0 ? option : NbdOption.Info;
            }
            var header = new byte[NbdLimits.OptionHeaderSize];
            NbdCodec.WriteOptionHeader(header, option, claimed);
            if (random.Next(10) == 0)
            {
                header[random.Next(8)] ^= 0x40; // bad magic
            }
            await client.WriteRawAsync(header);
            await client.WriteRawAsync(data);
        }
    }

    /// <summary>After a real handshake, request frames of every kind of wrong.</summary>
    private static async Task HostileRequestsAsync(NbdTestClient client, Random random, bool snapshot)
    {
        for (var i = random.Next(1, 40); i > 0; i--)
        {
            var command = random.Next(6) == 0 ? (NbdCommand)random.Next(ushort.MaxValue) : (NbdCommand)random.Next(8);
            var flags = (NbdCommandFlags)(random.Next(3) == 0 ? random.Next(ushort.MaxValue) : random.Next(32));
            var offset = random.Next(4) switch
            {
                0 => (ulong)random.NextInt64(VolumeSize),
                1 => (ulong)VolumeSize - (ulong)random.Next(8192),
                2 => (ulong)random.NextInt64(),
                _ => ulong.MaxValue - (ulong)random.Next(100),
            };
            var length = random.Next(4) switch
            {
                0 => (uint)random.Next(8192),
                1 => (uint)random.Next(1 << 20),
                2 => (uint)random.Next(),
                _ => uint.MaxValue - (uint)random.Next(100),
            };
            var writes = command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
            var cutShort = false;
            if (writes && !snapshot)
            {
                // never a write the server may carry out: an unknown flag, or a payload that never arrives in full
                if (command == NbdCommand.Write && random.Next(2) == 0)
                {
                    cutShort = true;
                }
                else
                {
                    flags |= (NbdCommandFlags)0x8000;
                }
            }
            if (command == NbdCommand.Disconnect && random.Next(4) != 0)
            {
                command = NbdCommand.Read;
            }
            var header = new byte[NbdLimits.RequestSize];
            NbdCodec.WriteRequest(header, new NbdRequest(flags, command, (ulong)random.NextInt64(), offset, length));
            if (random.Next(20) == 0)
            {
                header[random.Next(4)] ^= 0x10; // bad magic
            }
            if (random.Next(20) == 0)
            {
                await client.WriteRawAsync(header.AsMemory(0, random.Next(NbdLimits.RequestSize))); // truncated header
                return;
            }
            await client.WriteRawAsync(header);
            if (command == NbdCommand.Write)
            {
                var payload = (int)Math.Min(length, 256u << 10);
                if (cutShort)
                {
                    await client.WriteRawAsync(RandomBytes(random, (int)Math.Min(payload, Math.Max(length, 1) - 1)));
                    return;
                }
                await client.WriteRawAsync(RandomBytes(random, payload));
            }
        }
    }

    /// <summary>Reads and drops whatever the server sends until it hangs up or we give up.</summary>
    private static async Task DrainAsync(NbdTestClient client, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var buffer = new byte[64 << 10];
        try
        {
            while (await client.ReadSomeAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException
            or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
