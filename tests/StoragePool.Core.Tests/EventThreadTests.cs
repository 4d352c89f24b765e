using System.Diagnostics;
using StoragePool.Core.Threading;

namespace StoragePool.Core.Tests;

public class EventThreadTests
{
    [Test]
    public void A_method_that_leaves_a_thread_outside_the_pool_goes_on_on_the_pool_every_time()
    {
        // Awaited from a thread of its own, as a socket's event thread is. The hop must be decided where the caller
        // awaits: a hop made inside another async method can finish before the caller looks, and the caller then goes
        // on where it was (one try in about ten thousand here).
        const int tries = 200_000;
        var stayed = 0;
        var done = 0;
        var eventThread = new Thread(() =>
        {
            var clock = Stopwatch.StartNew();
            for (; done < tries && clock.Elapsed < TimeSpan.FromSeconds(20); done++)
            {
                var (pool, same) = ProbeAsync(Thread.CurrentThread).GetAwaiter().GetResult();
                if (!pool || same)
                {
                    stayed++;
                }
            }
        })
        { Name = "event thread (test)" };
        eventThread.Start();
        Assert.That(eventThread.Join(TimeSpan.FromSeconds(60)), Is.True);
        Assert.That((done, stayed), Is.EqualTo((tries, 0)), "every try finished, and went on on the thread pool");
    }

    [Test]
    public async Task A_method_already_on_the_pool_goes_on_without_a_hop()
    {
        var (onPool, sameThread) = await Task.Run(async () =>
        {
            var before = Thread.CurrentThread;
            await EventThread.LeaveAsync();
            return (Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread == before);
        });
        Assert.That((onPool, sameThread), Is.EqualTo((true, true)), "on the pool, and on the thread it was on");
    }

    private static async Task<(bool Pool, bool Same)> ProbeAsync(Thread caller)
    {
        await EventThread.LeaveAsync();
        return (Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread == caller);
    }
}
