using System.Collections.Concurrent;
using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using StoragePool.Core.Threading;

namespace StoragePool.Core.Tests;

public class DrainTurnTests
{
    [Test]
    public void An_item_counted_while_the_drainer_works_is_drained_in_the_same_turn()
    {
        var turn = new DrainTurn();

        Assert.That(turn.Queued(), Is.True, "the first item starts a turn");
        var owed = turn.Owed;
        Assert.That(turn.Queued(), Is.False, "a second item while the turn runs does not start another");
        Assert.That(turn.Drained(owed), Is.EqualTo(1), "the drainer finds the second item owed when it reports the first");
        Assert.That(turn.Drained(1), Is.Zero, "and its turn ends when it has reported that one");
        Assert.That(turn.Queued(), Is.True, "the next item starts a new turn");
    }

    /// <summary>
    /// Producers, each queuing items one after another and draining when its count starts a turn, run one atomic step
    /// at a time in the order a generated schedule says (the rest round-robin): every interleaving the schedule can
    /// name. Whatever it is, every item is drained exactly once, a drainer always finds the items it is owed, and there
    /// is never more than one drainer.
    /// </summary>
    [Test]
    public void Under_any_interleaving_every_item_is_drained_once_by_one_drainer_at_a_time()
    {
        var cases = from producers in Gen.Choose(1, 5)
                    from items in Gen.Choose(1, 3)
                    from schedule in Gen.ListOf(Gen.Choose(0, 1000))
                    select (producers, items, schedule.ToArray());
        Check.QuickThrowOnFailure(Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (producers, items, schedule) = c;
            var world = new World();
            var threads = Enumerable.Range(0, producers)
                .Select(p => Producer(world, Enumerable.Range(p * items, items)).GetEnumerator())
                .ToList();
            var runnable = new List<IEnumerator<bool>>(threads);
            var step = 0;
            while (runnable.Count > 0)
            {
                var pick = step < schedule.Length ? schedule[step] % runnable.Count : step % runnable.Count;
                step++;
                if (!runnable[pick].MoveNext())
                {
                    runnable.RemoveAt(pick);
                }
            }

            Assert.That(world.Problems, Is.Empty);
            Assert.That(world.Drained.Order(), Is.EqualTo(Enumerable.Range(0, producers * items)), "every item drained once");
            Assert.That((world.Queue.Count, world.Turn.Owed, world.Drainers), Is.EqualTo((0, 0, 0)));
        }));
    }

    /// <summary>
    /// The same on real threads, one per core: in each round every thread queues one item at the same moment and waits
    /// until it has been drained. An item left behind (nobody draining it) stops its thread, and the test says so.
    /// </summary>
    [Test]
    public void Items_queued_at_the_same_moment_on_every_core_are_all_drained()
    {
        var threads = Math.Max(2, Environment.ProcessorCount);
        const int rounds = 200_000;
        var world = new World();
        var drained = new bool[threads];
        using var start = new Barrier(threads);
        var stranded = new ConcurrentBag<string>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var clock = Stopwatch.StartNew();
            for (var round = 0; round < rounds && stranded.IsEmpty && clock.Elapsed < TimeSpan.FromSeconds(20); round++)
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                Volatile.Write(ref drained[t], false);
                world.Queue.Enqueue(t);
                if (world.Turn.Queued())
                {
                    var owed = world.Turn.Owed;
                    do
                    {
                        for (var i = 0; i < owed; i++)
                        {
                            if (!world.Queue.TryDequeue(out var item))
                            {
                                stranded.Add($"round {round}: an item counted as queued was not in the queue");
                                return;
                            }
                            Volatile.Write(ref drained[item], true);
                        }
                        owed = world.Turn.Drained(owed);
                    }
                    while (owed != 0);
                }
                var waited = Stopwatch.StartNew();
                while (!Volatile.Read(ref drained[t]))
                {
                    if (waited.Elapsed > TimeSpan.FromSeconds(2))
                    {
                        stranded.Add($"round {round}: thread {t}'s item was queued and nobody drained it");
                        start.RemoveParticipant();
                        return;
                    }
                    Thread.SpinWait(1);
                }
            }
            start.RemoveParticipant();
        })).ToList();
        workers.ForEach(w => w.Start());
        Assert.That(workers.All(w => w.Join(TimeSpan.FromSeconds(60))), Is.True, "every thread finished");
        Assert.That(stranded, Is.Empty);
    }

    private sealed class World
    {
        public ConcurrentQueue<int> Queue { get; } = new();

        public DrainTurn Turn { get; } = new();

        public List<int> Drained { get; } = [];

        public List<string> Problems { get; } = [];

        public int Drainers { get; set; }
    }

    /// <summary>One producer's program; each <c>yield</c> ends one atomic step.</summary>
    private static IEnumerable<bool> Producer(World world, IEnumerable<int> items)
    {
        foreach (var item in items)
        {
            world.Queue.Enqueue(item);
            yield return true;
            if (!world.Turn.Queued())
            {
                yield return true;
                continue;
            }
            if (++world.Drainers > 1)
            {
                world.Problems.Add($"two drainers at once (item {item})");
            }
            yield return true;
            var owed = world.Turn.Owed;
            yield return true;
            while (true)
            {
                for (var i = 0; i < owed; i++)
                {
                    if (world.Queue.TryDequeue(out var taken))
                    {
                        world.Drained.Add(taken);
                    }
                    else
                    {
                        world.Problems.Add($"owed {owed} items, found only {i}");
                    }
                    yield return true;
                }
                owed = world.Turn.Drained(owed);
                if (owed == 0)
                {
                    world.Drainers--;
                    yield return true;
                    break;
                }
                yield return true;
            }
        }
    }
}
