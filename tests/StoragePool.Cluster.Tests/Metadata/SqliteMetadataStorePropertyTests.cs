using FsCheck;
using FsCheck.Fluent;
using StoragePool.Cluster.Metadata;
using StoragePool.Testing;

namespace StoragePool.Cluster.Tests.Metadata;

public sealed class SqliteMetadataStorePropertyTests
{
    private static readonly string[] Keys = ["/a", "/a/x", "/a/y", "/ab", "/b"];
    private static readonly string[] Prefixes = ["", "/a", "/a/", "/b"];

    private TestDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TestDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Any_sequence_of_transactions_leaves_the_store_equal_to_a_dictionary_model()
    {
        Check.QuickThrowOnFailure(Prop.ForAll(Arb.From(Transactions(), ShrinkByDropping), async transactions =>
        {
            await using var store = await SqliteMetadataStore.OpenAsync(_dir.File($"{Guid.NewGuid():N}.db"));
            var model = new Model();
            foreach (var transaction in transactions)
            {
                Assert.That(await store.TxnAsync(transaction), Is.EqualTo(model.Apply(transaction)));
            }

            Assert.That(await store.GetRevisionAsync(), Is.EqualTo(model.Revision));
            Assert.That((await store.RangeAsync("")).Items.Select(Describe), Is.EqualTo(model.Items.Select(Describe)));
            var history = await SqliteMetadataStoreTests.TakeAsync(store.WatchAsync("", 1), model.Events.Count);
            Assert.That(history.Select(Describe), Is.EqualTo(model.Events.Select(Describe)));
        }));
    }

    private static Gen<Transaction[]> Transactions()
    {
        var key = Gen.Elements(Keys);
        var value = Gen.Elements<byte[]>([], [1], [2]);
        var op = Gen.Frequency(
            (3, key.Zip(value, (k, v) => (Op)new Op.Put(k, v))),
            (2, key.Select(k => (Op)new Op.Delete(k))),
            (1, Gen.Elements(Prefixes).Select(p => (Op)new Op.DeletePrefix(p))));
        var compare = Gen.OneOf(
            key.Select(Compare.Absent),
            key.Zip(Gen.Choose(0, 2), (k, n) => new Compare(k, CompareTarget.Version, n)),
            key.Zip(Gen.Choose(0, 6), (k, n) => Compare.ModRevisionIs(k, n)),
            key.Zip(value, Compare.ValueIs));
        var transaction =
            from compares in Gen.Choose(0, 2).SelectMany(n => Gen.ArrayOf(compare, n))
            from success in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(op, n))
            from failure in Gen.Choose(0, 2).SelectMany(n => Gen.ArrayOf(op, n)).OrNull()
            select new Transaction(compares, success, failure);
        return Gen.Choose(0, 12).SelectMany(n => Gen.ArrayOf(transaction, n));
    }

    private static IEnumerable<Transaction[]> ShrinkByDropping(Transaction[] transactions) =>
        Enumerable.Range(0, transactions.Length).Select(i => transactions.Where((_, j) => j != i).ToArray());

    private static string Describe(KeyValue kv) =>
        $"{kv.Key}={Convert.ToHexString(kv.Value)} create {kv.CreateRevision} mod {kv.ModRevision} v{kv.Version}";

    private static string Describe(WatchEvent watchEvent) => $"{watchEvent.Type} {Describe(watchEvent.Kv)}";

    /// <summary>etcd's semantics over a sorted dictionary: what the store must do.</summary>
    private sealed class Model
    {
        private readonly SortedDictionary<string, KeyValue> _keys = new(StringComparer.Ordinal);

        public long Revision { get; private set; }

        public List<WatchEvent> Events { get; } = [];

        public IEnumerable<KeyValue> Items => _keys.Values;

        public TxnResult Apply(Transaction transaction)
        {
            var succeeded = transaction.Compares.All(Holds);
            var revision = Revision + 1;
            var changed = false;
            foreach (var op in (succeeded ? transaction.Success : transaction.Failure) ?? [])
            {
                switch (op)
                {
                    case Op.Put put:
                        _keys.TryGetValue(put.Key, out var old);
                        var kv = new KeyValue(put.Key, put.Value, old?.CreateRevision ?? revision, revision, (old?.Version ?? 0) + 1);
                        _keys[put.Key] = kv;
                        Events.Add(new WatchEvent(WatchEventType.Put, kv));
                        changed = true;
                        break;
                    case Op.Delete delete:
                        changed |= Remove(delete.Key, revision);
                        break;
                    case Op.DeletePrefix deletePrefix:
                        foreach (var key in _keys.Keys.Where(k => k.StartsWith(deletePrefix.Prefix, StringComparison.Ordinal)).ToList())
                        {
                            changed |= Remove(key, revision);
                        }

                        break;
                }
            }

            Revision = changed ? revision : Revision;
            return new TxnResult(succeeded, Revision);
        }

        private bool Holds(Compare compare)
        {
            var current = _keys.GetValueOrDefault(compare.Key);
            return compare.Target switch
            {
                CompareTarget.Version => (current?.Version ?? 0) == compare.Number,
                CompareTarget.ModRevision => (current?.ModRevision ?? 0) == compare.Number,
                _ => current is not null && current.Value.SequenceEqual(compare.Value!),
            };
        }

        private bool Remove(string key, long revision)
        {
            if (!_keys.Remove(key))
            {
                return false;
            }

            Events.Add(new WatchEvent(WatchEventType.Delete, new KeyValue(key, [], 0, revision, 0)));
            return true;
        }
    }
}
