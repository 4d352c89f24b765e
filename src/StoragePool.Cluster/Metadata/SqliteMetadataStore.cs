using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;
using StoragePool.Core.Threading;

namespace StoragePool.Cluster.Metadata;

/// <summary>
/// The embedded <see cref="IMetadataStore"/>: one SQLite file in WAL mode with synchronous=FULL, so an
/// acknowledged transaction survives power loss and a crash leaves the store between two transactions.
/// The file is locked exclusively while open: one process owns a store.
/// Watches replay the change history, which keeps the last <c>historyLimit</c> revisions.
/// A watch throws <see cref="OperationCanceledException"/> when its token is cancelled and ends quietly
/// when the store is disposed. Within one transaction, operations apply in order (etcd forbids touching a key
/// twice in one transaction; here the later operation sees the earlier one).
/// </summary>
public sealed class SqliteMetadataStore : IMetadataStore
{
    public const int DefaultHistoryLimit = 10_000;

    private const int SchemaVersion = 1;
    private const int WatchBatchRevisions = 256;
    private const int PutEvent = 0;
    private const int DeleteEvent = 1;
    private const int MaxCodePoint = 0x10FFFF;

    private readonly SqliteConnection _connection;
    private readonly long _historyLimit;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private TaskCompletionSource _committed = NewSignal();
    private long _revision;
    private long _compacted;
    private bool _disposed;

    static SqliteMetadataStore() => SQLitePCL.Batteries_V2.Init();

    private SqliteMetadataStore(SqliteConnection connection, long historyLimit, long revision, long compacted)
    {
        _connection = connection;
        _historyLimit = historyLimit;
        _revision = revision;
        _compacted = compacted;
    }

    /// <summary>Opens the store at <paramref name="path"/>, creating it if missing.</summary>
    public static Task<SqliteMetadataStore> OpenAsync(string path, CancellationToken cancellationToken = default) =>
        OpenAsync(path, DefaultHistoryLimit, cancellationToken);

    /// <summary>Opens the store at <paramref name="path"/>, creating it if missing; watches can replay the last <paramref name="historyLimit"/> revisions.</summary>
    public static async Task<SqliteMetadataStore> OpenAsync(string path, long historyLimit, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(historyLimit, 1);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            // Only another process can keep the file busy: fail after a second rather than the default 30.
            DefaultTimeout = 1,
        }.ToString();
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // EXCLUSIVE before the first access: the lock is held until close and WAL needs no shared memory.
            await ExecuteAsync(connection, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", cancellationToken);
            var schema = await ReadLongAsync(connection, "PRAGMA user_version", cancellationToken);
            if (schema == 0)
            {
                await ExecuteAsync(connection, $"""
                    BEGIN;
                    CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE history (rev INTEGER NOT NULL, idx INTEGER NOT NULL, key TEXT NOT NULL, type INTEGER NOT NULL, value BLOB NOT NULL, create_rev INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (rev, idx)) WITHOUT ROWID;
                    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO meta VALUES ('revision', 0), ('compacted', 0);
                    PRAGMA user_version = {SchemaVersion};
                    COMMIT;
                    """, cancellationToken);
            }
            else if (schema != SchemaVersion)
            {
                throw new InvalidDataException(
                    $"metadata store '{path}' has schema version {schema}, but this build reads version {SchemaVersion}; run a matching storagepoold");
            }

            var revision = await ReadLongAsync(connection, "SELECT value FROM meta WHERE name = 'revision'", cancellationToken);
            var compacted = await ReadLongAsync(connection, "SELECT value FROM meta WHERE name = 'compacted'", cancellationToken);
            return new SqliteMetadataStore(connection, historyLimit, revision, compacted);
        }
        catch (Exception e)
        {
            await connection.DisposeAsync();
            if (e is SqliteException { SqliteErrorCode: SQLitePCL.raw.SQLITE_BUSY })
            {
                throw new IOException($"metadata store '{path}' is open in another process; stop that process first", e);
            }

            throw;
        }
    }

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        return Task.FromResult(Volatile.Read(ref _revision));
    }

    public async Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        await EnterAsync(cancellationToken);
        try
        {
            await using var command = Command("SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = $key");
            command.Parameters.AddWithValue("$key", key);
            return (await ReadKeyValuesAsync(command, cancellationToken)).SingleOrDefault();
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        await EnterAsync(cancellationToken);
        try
        {
            await using var command = Command();
            command.CommandText = $"SELECT key, value, create_rev, mod_rev, version FROM kv WHERE {PrefixCondition(command, prefix)} ORDER BY key";
            return new RangeResult(await ReadKeyValuesAsync(command, cancellationToken), _revision);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<TxnResult> TxnAsync(Transaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await EnterAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            var succeeded = true;
            foreach (var compare in transaction.Compares)
            {
                succeeded &= await HoldsAsync(compare, tx, cancellationToken);
            }

            var revision = _revision + 1;
            var changes = 0;
            foreach (var op in (succeeded ? transaction.Success : transaction.Failure) ?? [])
            {
                changes += await ApplyAsync(op, revision, changes, tx, cancellationToken);
            }

            if (changes == 0)
            {
                await tx.RollbackAsync(cancellationToken);
                return new TxnResult(succeeded, _revision);
            }

            var compacted = Math.Max(_compacted, revision - _historyLimit);
            await using (var command = Command("""
                DELETE FROM history WHERE rev <= $compacted;
                UPDATE meta SET value = $revision WHERE name = 'revision';
                UPDATE meta SET value = $compacted WHERE name = 'compacted';
                """, tx))
            {
                command.Parameters.AddWithValue("$revision", revision);
                command.Parameters.AddWithValue("$compacted", compacted);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
            Volatile.Write(ref _revision, revision);
            _compacted = compacted;
            Interlocked.Exchange(ref _committed, NewSignal()).SetResult();
            return new TxnResult(succeeded, revision);
        }
        finally
        {
            _lock.Release();
        }
    }

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        // "From now on" means from the revision current when the watch is created, not when it is first enumerated.
        return WatchFromAsync(prefix, fromRevision > 0 ? fromRevision : Volatile.Read(ref _revision) + 1, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await _connection.DisposeAsync();
        }
        finally
        {
            _lock.Release();
        }

        // Wakes every waiting watch; each then finds the store disposed and ends.
        Volatile.Read(ref _committed).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async IAsyncEnumerable<WatchEvent> WatchFromAsync(string prefix, long next, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            // Taken before reading, so a commit after the read completes it and is not missed.
            var committed = Volatile.Read(ref _committed).Task;
            if (await ReadHistoryAsync(prefix, next, cancellationToken) is not { } batch)
            {
                yield break;
            }

            foreach (var watchEvent in batch.Events)
            {
                yield return watchEvent;
            }

            next = batch.Next;
            if (batch.CaughtUp)
            {
                await committed.WaitAsync(cancellationToken);
            }
        }
    }

    /// <summary>The changes under <paramref name="prefix"/> in the next batch of revisions from <paramref name="from"/>; null once the store is disposed.</summary>
    private async Task<(List<WatchEvent> Events, long Next, bool CaughtUp)?> ReadHistoryAsync(string prefix, long from, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (_disposed)
            {
                return null;
            }

            if (from <= _compacted)
            {
                throw new CompactedException(from, _compacted + 1);
            }

            var through = Math.Min(from + WatchBatchRevisions - 1, _revision);
            await using var command = Command();
            command.CommandText = $"""
                SELECT key, value, create_rev, rev, version, type FROM history
                WHERE rev BETWEEN $from AND $through AND {PrefixCondition(command, prefix)} ORDER BY rev, idx
                """;
            command.Parameters.AddWithValue("$from", from);
            command.Parameters.AddWithValue("$through", through);
            var events = new List<WatchEvent>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var type = reader.GetInt32(5) == PutEvent ? WatchEventType.Put : WatchEventType.Delete;
                events.Add(new WatchEvent(type, ReadKeyValue(reader)));
            }

            return (events, Math.Max(from, through + 1), through == _revision);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<bool> HoldsAsync(Compare compare, SqliteTransaction tx, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = $key", tx);
        command.Parameters.AddWithValue("$key", compare.Key);
        var current = (await ReadKeyValuesAsync(command, cancellationToken)).SingleOrDefault();
        return compare switch
        {
            { Target: CompareTarget.Version } => (current?.Version ?? 0) == compare.Number,
            { Target: CompareTarget.ModRevision } => (current?.ModRevision ?? 0) == compare.Number,
            { Target: CompareTarget.Value, Value: { } value } => current is not null && current.Value.AsSpan().SequenceEqual(value),
            _ => throw new ArgumentException($"the {compare.Target} compare on '{compare.Key}' is not valid; a Value compare needs a value", nameof(compare)),
        };
    }

    /// <summary>Applies one operation at <paramref name="revision"/>, recording its changes in the history from <paramref name="index"/> on; returns how many keys it changed.</summary>
    private async Task<int> ApplyAsync(Op op, long revision, int index, SqliteTransaction tx, CancellationToken cancellationToken)
    {
        await using var command = Command(tx: tx);
        command.Parameters.AddWithValue("$rev", revision);
        command.Parameters.AddWithValue("$idx", index);
        if (op is Op.Put put)
        {
            ArgumentException.ThrowIfNullOrEmpty(put.Key, nameof(op));
            command.CommandText = $"""
                INSERT INTO kv VALUES ($key, $value, $rev, $rev, 1)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1;
                INSERT INTO history SELECT $rev, $idx, key, {PutEvent}, value, create_rev, version FROM kv WHERE key = $key;
                """;
            command.Parameters.AddWithValue("$key", put.Key);
            command.Parameters.AddWithValue("$value", put.Value);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return 1;
        }

        var condition = op switch
        {
            Op.Delete delete => KeyCondition(command, delete.Key),
            Op.DeletePrefix deletePrefix => PrefixCondition(command, deletePrefix.Prefix),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation"),
        };
        command.CommandText = $"""
            INSERT INTO history
                SELECT $rev, $idx + row_number() OVER (ORDER BY key) - 1, key, {DeleteEvent}, X'', 0, 0 FROM kv WHERE {condition}
            """;
        var deleted = await command.ExecuteNonQueryAsync(cancellationToken);
        command.CommandText = $"DELETE FROM kv WHERE {condition}";
        await command.ExecuteNonQueryAsync(cancellationToken);
        return deleted;
    }

    private static string KeyCondition(SqliteCommand command, string key)
    {
        command.Parameters.AddWithValue("$key", key);
        return "key = $key";
    }

    /// <summary>Keys starting with <paramref name="prefix"/>, as an index range (no LIKE: '_' and '%' are ordinary characters in keys).</summary>
    private static string PrefixCondition(SqliteCommand command, string prefix)
    {
        command.Parameters.AddWithValue("$low", prefix);
        if (PrefixEnd(prefix) is not { } end)
        {
            return "key >= $low";
        }

        command.Parameters.AddWithValue("$high", end);
        return "key >= $low AND key < $high";
    }

    /// <summary>
    /// The least string above every string that starts with <paramref name="prefix"/> in SQLite's order (UTF-8 bytes,
    /// that is code points), or null when there is none: the prefix with its last incrementable code point incremented.
    /// </summary>
    private static string? PrefixEnd(string prefix)
    {
        var runes = prefix.EnumerateRunes().ToList();
        while (runes.Count > 0)
        {
            var last = runes[^1].Value;
            runes.RemoveAt(runes.Count - 1);
            if (last < MaxCodePoint)
            {
                runes.Add(new Rune(last == 0xD7FF ? 0xE000 : last + 1));
                return string.Concat(runes);
            }
        }

        return null;
    }

    private async Task EnterAsync(CancellationToken cancellationToken)
    {
        EventThread.AssertNotOn("a metadata store call");
        await _lock.WaitAsync(cancellationToken);
        if (_disposed)
        {
            _lock.Release();
            ObjectDisposedException.ThrowIf(true, this);
        }
    }

    private SqliteCommand Command(string sql = "", SqliteTransaction? tx = null)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return command;
    }

    private static async Task<List<KeyValue>> ReadKeyValuesAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var items = new List<KeyValue>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(ReadKeyValue(reader));
        }

        return items;
    }

    /// <summary>Reads (key, value, create_rev, mod_rev, version); the value is a fresh array the caller owns.</summary>
    private static KeyValue ReadKeyValue(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.GetFieldValue<byte[]>(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<long> ReadLongAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
