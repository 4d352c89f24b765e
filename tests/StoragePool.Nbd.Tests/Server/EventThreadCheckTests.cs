using System.Net;
using System.Net.Sockets;
using StoragePool.Core.Threading;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>
/// Test builds assert that nothing which may block runs on a socket's event thread (EventThread.AssertNotOn at the
/// volume, file store and metadata calls). The assertion is only as good as its recognition of that thread: checked
/// here against a real socket continuation, run inline as storagepoold runs them (tests/daemon-sockets.runsettings).
/// </summary>
public sealed class EventThreadCheckTests
{
    [Test]
    public async Task A_socket_continuation_runs_on_the_event_thread_and_a_blocking_call_there_is_refused()
    {
        Assert.That(DaemonSockets.InlineOnOneThread, Is.True, "this project runs sockets as storagepoold does");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        // started off NUnit's context, so that the continuation runs where the socket completes it
        var seen = Task.Run(async () =>
        {
            await server.ReceiveAsync(new byte[1]);
            var onEventThread = EventThread.IsCurrent;
            var refused = Assert.Throws<InvalidOperationException>(() => EventThread.AssertNotOn("a test's disk write"));
            await EventThread.LeaveAsync();
            return (onEventThread, refused!.Message, afterLeaving: EventThread.IsCurrent);
        });
        await Task.Delay(100);
        await client.SendAsync(new byte[] { 1 });
        var (onEventThread, message, afterLeaving) = await seen.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(onEventThread, Is.True, "a receive completed by the socket engine continues on its event thread");
        Assert.That(message, Does.StartWith("a test's disk write may block, and was called on a socket's event thread"));
        Assert.That(afterLeaving, Is.False);
        Assert.DoesNotThrow(() => EventThread.AssertNotOn("a call on the thread pool"));
    }
}
