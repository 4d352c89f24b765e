using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using StoragePool.Core.Telemetry;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>
/// A request that waits too long for its reply is what a frozen VM disk looks like from the server: it is logged once,
/// with where the request is and what its connection is doing, and counted for /metrics.
/// </summary>
public sealed class StuckRequestTests
{
    private const int StuckEvent = 5030;
    private const int AnsweredAgainEvent = 5031;
    private static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(300);

    [Test]
    public async Task A_write_the_volume_holds_past_the_threshold_is_logged_once_counted_and_still_answered()
    {
        var export = $"pool/held-{Guid.NewGuid():N}";
        using var counted = new StuckCounter(export);
        await using var server = await ServerHarness.StartAsync(o => o with { StuckRequestAfter = Threshold },
            e => e.AddVolume(export, 16 << 20));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Exports.Wrap = volume => new HookedVolume(volume, async call =>
        {
            if (call.Operation == "write" && call.Offset == 1 << 20)
            {
                await release.Task;
            }
        });
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, export);
        await client.WriteAsync(0, new byte[4096]);

        var held = await client.SendAsync(NbdCommand.Write, 1 << 20, 4096, payload: new byte[4096]);
        var line = await WaitForAsync(() => server.Logger.Lines.FirstOrDefault(l => l.EventId == StuckEvent));
        await TestContext.Out.WriteLineAsync(line.Message);
        await Task.Delay(Threshold * 4);

        Assert.That(line.Message, Does.Contain($"on {export}: NBD_CMD_WRITE at 1048576+4096 has waited"));
        Assert.That(line.Message, Does.Contain("the volume is working on it"));
        Assert.That(line.Message, Does.Contain("0 more of its requests wait too long. The connection has 1 requests in flight; " +
            "its reader is waiting for the next request; its sender has no reply to send"));
        Assert.That(server.Logger.Count(StuckEvent), Is.EqualTo(1), "logged once, however long it waits");
        Assert.That(counted.Total, Is.EqualTo(1));
        Assert.That(server.Server.StuckRequestCount, Is.EqualTo(1));

        release.SetResult();
        var reply = await client.ReceiveAsync();
        Assert.That((reply.Handle, reply.Error), Is.EqualTo((held, NbdError.None)));
        var again = await WaitForAsync(() => server.Logger.Lines.FirstOrDefault(l => l.EventId == AnsweredAgainEvent));
        Assert.That(again.Message, Does.Contain("answers in time again; 1 requests waited too long"));
        Assert.That(server.Server.StuckRequestCount, Is.Zero);
        await client.WriteAsync(2 << 20, new byte[4096]);
        Assert.That(server.Logger.Count(StuckEvent), Is.EqualTo(1), "a request answered in time is not reported");
    }

    [Test]
    public async Task Replies_a_client_does_not_read_are_reported_as_waiting_on_the_client()
    {
        var export = $"pool/unread-{Guid.NewGuid():N}";
        using var counted = new StuckCounter(export);
        await using var server = await ServerHarness.StartAsync(o => o with { StuckRequestAfter = Threshold },
            e => e.AddVolume(export, 64 << 20));
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, export);

        // 48 MiB of replies, far more than the socket holds, and the client reads none of them
        for (var i = 0; i < 48; i++)
        {
            await client.SendAsync(NbdCommand.Read, (ulong)i << 20, 1 << 20, NbdCommandFlags.DontFragment);
        }
        var line = await WaitForAsync(() => server.Logger.Lines.FirstOrDefault(
            l => l.EventId == StuckEvent && l.Message.Contains("its reply waits to be sent", StringComparison.Ordinal)));
        await TestContext.Out.WriteLineAsync(line.Message);

        Assert.That(line.Message, Does.Contain("the client is not reading its replies"));
        await Task.Delay(Threshold * 4);
        Assert.That(server.Logger.Count(StuckEvent), Is.EqualTo(1), "one line for the connection, not one per request");
        Assert.That(counted.Total, Is.GreaterThan(8), "every request that waited too long is counted");
    }

    private static async Task<T> WaitForAsync<T>(Func<T?> probe)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            if (probe() is { } found)
            {
                return found;
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("not seen within 10 s");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Adds up <c>storagepool_nbd_stuck_requests</c> for one export, as /metrics would.</summary>
    private sealed class StuckCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _total;

        public StuckCounter(string export)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == Meters.Name && instrument.Name == "storagepool_nbd_stuck_requests")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag is { Key: "export", Value: string e } && e == export)
                    {
                        Interlocked.Add(ref _total, value);
                    }
                }
            });
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }
}
