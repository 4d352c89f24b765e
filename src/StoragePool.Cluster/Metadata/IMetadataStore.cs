namespace StoragePool.Cluster.Metadata;

/// <summary>
/// The desired state of the pool: a key-value store with a global revision, compare-and-swap
/// transactions and watches, shaped after etcd's v3 API so that an etcd implementation can
/// replace the embedded one without touching callers.
/// Keys are '/'-separated strings; values are opaque bytes (JSON in practice).
/// </summary>
public interface IMetadataStore : IAsyncDisposable
{
    /// <summary>The store's revision: incremented by every transaction that changes something.</summary>
    Task<long> GetRevisionAsync(CancellationToken cancellationToken = default);

    /// <summary>One key, or null.</summary>
    Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Every key that starts with <paramref name="prefix"/>, in key order, read at one revision.</summary>
    Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>
    /// If every compare holds, applies <see cref="Transaction.Success"/>, else <see cref="Transaction.Failure"/>;
    /// atomically and durably (committed to disk before this returns).
    /// </summary>
    Task<TxnResult> TxnAsync(Transaction transaction, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every change to keys under <paramref name="prefix"/> with a revision ≥ <paramref name="fromRevision"/>,
    /// in revision order, then new changes as they commit, until cancelled.
    /// Throws <see cref="CompactedException"/> when <paramref name="fromRevision"/> is older than the history kept.
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default);
}

public sealed record KeyValue(string Key, byte[] Value, long CreateRevision, long ModRevision, long Version);

public sealed record RangeResult(IReadOnlyList<KeyValue> Items, long Revision);

public sealed record TxnResult(bool Succeeded, long Revision);

public enum WatchEventType
{
    Put,
    Delete,
}

/// <summary>A change. For a delete, <see cref="KeyValue.Value"/> is empty and ModRevision is the delete's revision.</summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Kv);

public enum CompareTarget
{
    /// <summary>The number of puts since the key was created; 0 when the key does not exist.</summary>
    Version,

    /// <summary>Revision of the last change to the key; 0 when the key does not exist.</summary>
    ModRevision,

    /// <summary>The key's value, byte for byte.</summary>
    Value,
}

/// <summary>A condition on one key; only equality, which is all compare-and-swap needs.</summary>
public sealed record Compare(string Key, CompareTarget Target, long Number = 0, byte[]? Value = null)
{
    public static Compare Absent(string key) => new(key, CompareTarget.Version, 0);

    public static Compare ModRevisionIs(string key, long revision) => new(key, CompareTarget.ModRevision, revision);

    public static Compare ValueIs(string key, byte[] value) => new(key, CompareTarget.Value, Value: value);
}

public abstract record Op
{
    public sealed record Put(string Key, byte[] Value) : Op;

    public sealed record Delete(string Key) : Op;

    /// <summary>Deletes every key that starts with Prefix.</summary>
    public sealed record DeletePrefix(string Prefix) : Op;
}

public sealed record Transaction(IReadOnlyList<Compare> Compares, IReadOnlyList<Op> Success, IReadOnlyList<Op>? Failure = null)
{
    /// <summary>Unconditional writes.</summary>
    public static Transaction Of(params Op[] ops) => new([], ops);
}

/// <summary>The requested watch revision was compacted away; re-read with a range and watch from its revision + 1.</summary>
public sealed class CompactedException : Exception
{
    public CompactedException(long requested, long oldest)
        : base($"revision {requested} has been compacted; the oldest kept is {oldest}")
    {
        Requested = requested;
        Oldest = oldest;
    }

    public CompactedException()
    {
    }

    public CompactedException(string message)
        : base(message)
    {
    }

    public CompactedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public long Requested { get; }

    public long Oldest { get; }
}
