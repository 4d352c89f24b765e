namespace StoragePool.Core.Threading;

/// <summary>
/// Whose turn it is to drain a queue that many threads add to: at most one drainer at a time, no lock, and no item
/// left behind. It counts the items queued and not yet drained. Whoever raises the count from zero (<see cref="Queued"/>
/// returns true) drains: it takes <see cref="Owed"/> items, then reports them (<see cref="Drained"/>) and goes on while
/// that leaves some owed. Every step is one atomic read-modify-write of one word, so no interleaving and no memory
/// model can strand an item: an item is queued before it is counted, and the drainer stops only when its own
/// subtraction reaches zero.
/// </summary>
/// <remarks>
/// The shape this replaces, a "draining" flag released with a plain store followed by a look at the queue, loses
/// items: the CPU may let the look pass the store (x86 reorders a store with a later load), so the drainer sees an
/// empty queue while a thread that has just queued sees the flag still set, and both walk away (docs/threading.md).
/// </remarks>
public sealed class DrainTurn
{
    private int _pending;

    /// <summary>Counts one item, already in the queue. True: the caller's turn to drain has begun.</summary>
    public bool Queued() => Interlocked.Increment(ref _pending) == 1;

    /// <summary>How many items the drainer may take now; every one of them is already in the queue.</summary>
    public int Owed => Volatile.Read(ref _pending);

    /// <summary>The drainer has taken <paramref name="count"/> items. Returns how many are owed now; at 0 its turn has ended.</summary>
    public int Drained(int count) => Interlocked.Add(ref _pending, -count);
}
