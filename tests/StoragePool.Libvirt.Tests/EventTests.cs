using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace StoragePool.Libvirt.Tests;

/// <summary>
/// Pool lifecycle events through <see cref="LibvirtEventLoop"/>. The loop is process-wide, so these tests
/// must not run in parallel with each other (NUnit runs them one at a time unless told otherwise).
/// </summary>
public sealed class EventTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Test]
    public void Define_start_stop_and_undefine_each_arrive_as_a_lifecycle_event_on_the_loop_thread()
    {
        var errors = new ConcurrentQueue<Exception>();
        using var loop = LibvirtEventLoop.Start(onError: errors.Enqueue);
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        var events = new BlockingCollection<(string Pool, PoolLifecycleEvent Event, string? Thread)>();
        using (loop.SubscribePoolLifecycle(connection, (pool, evt) => events.Add((pool, evt, Thread.CurrentThread.Name))))
        {
            using var pool = connection.DefinePool(PoolXml.Dir("sp-events", "/srv/sp-events"));
            Assert.That(Next(events), Is.EqualTo(("sp-events", PoolLifecycleEvent.Defined, "libvirt events")));
            pool.Start();
            Assert.That(Next(events), Is.EqualTo(("sp-events", PoolLifecycleEvent.Started, "libvirt events")));
            pool.Destroy();
            Assert.That(Next(events), Is.EqualTo(("sp-events", PoolLifecycleEvent.Stopped, "libvirt events")));
            pool.Undefine();
            Assert.That(Next(events), Is.EqualTo(("sp-events", PoolLifecycleEvent.Undefined, "libvirt events")));
        }

        // After the subscription is disposed nothing more arrives.
        connection.DefinePool(PoolXml.Dir("sp-quiet", "/srv/sp-quiet")).Dispose();
        Assert.That(events.TryTake(out var late, TimeSpan.FromMilliseconds(700)), Is.False, $"unexpected event {late}");
        Assert.That(errors, Is.Empty);
    }

    [Test]
    public void A_handler_that_throws_is_reported_and_later_events_still_arrive()
    {
        var errors = new BlockingCollection<Exception>();
        using var loop = LibvirtEventLoop.Start(onError: errors.Add);
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        var events = new BlockingCollection<PoolLifecycleEvent>();
        using var subscription = loop.SubscribePoolLifecycle(connection, (_, evt) =>
        {
            events.Add(evt);
            if (evt == PoolLifecycleEvent.Defined)
            {
                throw new InvalidOperationException("handler failed on purpose");
            }
        });

        using var pool = connection.DefinePool(PoolXml.Dir("sp-throw", "/srv/sp-throw"));
        Assert.That(errors.TryTake(out var error, Wait), Is.True, "the handler's exception was not reported");
        Assert.That(error!.Message, Is.EqualTo("handler failed on purpose"));
        pool.Start();
        Assert.That(events.TryTake(out var first, Wait), Is.True);
        Assert.That(events.TryTake(out var second, Wait), Is.True, "no event after the failed handler");
        Assert.That((first, second), Is.EqualTo((PoolLifecycleEvent.Defined, PoolLifecycleEvent.Started)));
    }

    [Test]
    public void The_loop_thread_ends_when_the_loop_is_disposed_and_a_new_loop_can_start_after()
    {
        var loop = LibvirtEventLoop.Start(wakeInterval: TimeSpan.FromMinutes(5));
        Assert.That(loop.IsRunning, Is.True);
        Assert.That(() => LibvirtEventLoop.Start(), Throws.InvalidOperationException.With.Message.Contains("already running"));

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        loop.Dispose();
        // The wake interval is minutes: stopping must interrupt the loop's poll, not wait for the timer.
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(loop.IsRunning, Is.False);
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        Assert.That(() => loop.SubscribePoolLifecycle(connection, (_, _) => { }), Throws.TypeOf<ObjectDisposedException>());

        using var again = LibvirtEventLoop.Start();
        Assert.That(again.IsRunning, Is.True);
    }

    [Test]
    public void A_disposed_subscription_is_released_by_libvirt_and_collected()
    {
        using var loop = LibvirtEventLoop.Start();
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        var subscription = SubscribeAndDispose(loop, connection);
        for (var i = 0; i < 5 && subscription.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        // libvirt called the free callback, which freed the GCHandle that kept the subscription alive.
        Assert.That(subscription.IsAlive, Is.False);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference SubscribeAndDispose(LibvirtEventLoop loop, LibvirtConnection connection)
    {
        var subscription = loop.SubscribePoolLifecycle(connection, (_, _) => { });
        subscription.Dispose();
        return new WeakReference(subscription);
    }

    private static (string, PoolLifecycleEvent, string?) Next(BlockingCollection<(string, PoolLifecycleEvent, string?)> events) =>
        events.TryTake(out var next, Wait) ? next : throw new AssertionException($"no pool event within {Wait.TotalSeconds} s");
}
