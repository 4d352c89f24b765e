using System.Text;
using StoragePool.Cluster.Metadata;
using StoragePool.Testing;

namespace StoragePool.Cluster.Tests.Metadata;

public sealed class SqliteMetadataStoreTests
{
    private TestDirectory _dir = null!;
    private SqliteMetadataStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _dir = new TestDirectory();
        _store = await SqliteMetadataStore.OpenAsync(_dir.File("meta.db"));
    }

    [TearDown]
    public async Task TearDown()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public async Task A_put_creates_a_key_at_version_1_and_later_puts_keep_its_create_revision()
    {
        await PutAsync("/a", "1");
        await PutAsync("/b", "1");
        await PutAsync("/a", "2");

        var a = await _store.GetAsync("/a");
        Assert.That(a, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(Text(a!.Value), Is.EqualTo("2"));
            Assert.That((a.CreateRevision, a.ModRevision, a.Version), Is.EqualTo((1L, 3L, 2L)));
        });
        Assert.That(await _store.GetAsync("/missing"), Is.Null);
    }

    [Test]
    public async Task A_deleted_key_is_gone_and_a_later_put_recreates_it_at_version_1()
    {
        await PutAsync("/a", "1");
        await PutAsync("/a", "2");
        await _store.TxnAsync(Transaction.Of(new Op.Delete("/a")));
        Assert.That(await _store.GetAsync("/a"), Is.Null);

        await PutAsync("/a", "3");

        var a = await _store.GetAsync("/a");
        Assert.That((a!.CreateRevision, a.ModRevision, a.Version), Is.EqualTo((4L, 4L, 1L)));
    }

    [Test]
    public async Task The_revision_moves_by_one_per_changing_transaction_and_not_at_all_otherwise()
    {
        var first = await _store.TxnAsync(Transaction.Of(new Op.Put("/a", Bytes("1")), new Op.Put("/b", Bytes("1"))));
        Assert.That(first, Is.EqualTo(new TxnResult(true, 1)));

        var unchanged = new[]
        {
            Transaction.Of(new Op.Delete("/absent")),
            Transaction.Of(new Op.DeletePrefix("/nothing/")),
            Transaction.Of(),
            new Transaction([Compare.Absent("/a")], [new Op.Put("/c", Bytes("x"))]),
        };
        foreach (var transaction in unchanged)
        {
            Assert.That((await _store.TxnAsync(transaction)).Revision, Is.EqualTo(1));
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await _store.GetRevisionAsync(), Is.EqualTo(1));
            Assert.That((await _store.GetAsync("/a"))!.ModRevision, Is.EqualTo(1));
            Assert.That((await _store.GetAsync("/b"))!.ModRevision, Is.EqualTo(1));
            Assert.That(await _store.GetAsync("/c"), Is.Null);
        });
    }

    [Test]
    public async Task Of_many_writers_racing_to_create_a_key_exactly_one_succeeds()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() =>
            _store.TxnAsync(new Transaction([Compare.Absent("/leader")], [new Op.Put("/leader", Bytes($"node{i}"))])))));

        var winners = Enumerable.Range(0, 16).Where(i => results[i].Succeeded).ToList();
        Assert.That(winners, Has.Count.EqualTo(1));
        Assert.Multiple(async () =>
        {
            Assert.That(Text((await _store.GetAsync("/leader"))!.Value), Is.EqualTo($"node{winners[0]}"));
            Assert.That(await _store.GetRevisionAsync(), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Compare_and_swap_on_mod_revision_loses_no_concurrent_increment()
    {
        await PutAsync("/counter", "0");

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var done = 0; done < 10;)
            {
                var current = (await _store.GetAsync("/counter"))!;
                var next = Bytes((int.Parse(Text(current.Value)) + 1).ToString());
                var result = await _store.TxnAsync(new Transaction(
                    [Compare.ModRevisionIs("/counter", current.ModRevision)], [new Op.Put("/counter", next)]));
                done += result.Succeeded ? 1 : 0;
            }
        })));

        var counter = (await _store.GetAsync("/counter"))!;
        Assert.That((Text(counter.Value), counter.Version), Is.EqualTo(("80", 81L)));
    }

    [Test]
    public async Task A_stale_mod_revision_fails_the_compare_and_runs_the_failure_branch()
    {
        await PutAsync("/vol", "v1");
        var read = (await _store.GetAsync("/vol"))!;
        await PutAsync("/vol", "v2");

        var result = await _store.TxnAsync(new Transaction(
            [Compare.ModRevisionIs("/vol", read.ModRevision)],
            [new Op.Put("/vol", Bytes("stale write"))],
            [new Op.Put("/conflicts/vol", Bytes("1"))]));

        Assert.That(result, Is.EqualTo(new TxnResult(false, 3)));
        Assert.Multiple(async () =>
        {
            Assert.That(Text((await _store.GetAsync("/vol"))!.Value), Is.EqualTo("v2"));
            Assert.That(await _store.GetAsync("/conflicts/vol"), Is.Not.Null);
        });
    }

    [Test]
    public async Task A_value_compare_picks_the_branch_by_the_current_bytes()
    {
        await PutAsync("/state", "ready");

        var matching = await _store.TxnAsync(new Transaction(
            [Compare.ValueIs("/state", Bytes("ready"))], [new Op.Put("/state", Bytes("running"))], [new Op.Put("/state", Bytes("wrong"))]));
        var stale = await _store.TxnAsync(new Transaction(
            [Compare.ValueIs("/state", Bytes("ready"))], [new Op.Put("/state", Bytes("wrong"))], [new Op.Put("/seen", Bytes("running"))]));
        var absent = await _store.TxnAsync(new Transaction([Compare.ValueIs("/absent", [])], [new Op.Put("/wrong", [])]));

        Assert.Multiple(async () =>
        {
            Assert.That((matching.Succeeded, stale.Succeeded, absent.Succeeded), Is.EqualTo((true, false, false)));
            Assert.That(Text((await _store.GetAsync("/state"))!.Value), Is.EqualTo("running"));
            Assert.That(Text((await _store.GetAsync("/seen"))!.Value), Is.EqualTo("running"));
            Assert.That(await _store.GetAsync("/wrong"), Is.Null);
        });
    }

    [Test]
    public async Task A_prefix_range_returns_exactly_the_keys_under_the_prefix()
    {
        string[] keys = ["/volumes/p1", "/volumes/p1/a", "/volumes/p1/b", "/volumes/p10/x", "/volumes/p1_/y", "/volumes/p_/z", "/volumes/p%/w", "/volumes0"];
        foreach (var key in keys)
        {
            await PutAsync(key, key);
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await KeysAsync("/volumes/p1/"), Is.EqualTo(new[] { "/volumes/p1/a", "/volumes/p1/b" }));
            Assert.That(await KeysAsync("/volumes/p_/"), Is.EqualTo(new[] { "/volumes/p_/z" }));
            Assert.That(await KeysAsync("/volumes/p%"), Is.EqualTo(new[] { "/volumes/p%/w" }));
            Assert.That(await KeysAsync("/volumes/"), Has.Count.EqualTo(7));
            Assert.That(await KeysAsync(""), Is.EqualTo(keys.Order(StringComparer.Ordinal)));
            Assert.That(await KeysAsync("/volumes/p2/"), Is.Empty);
        });
    }

    [Test]
    public async Task A_prefix_range_is_exact_for_keys_beyond_ascii()
    {
        string[] keys = ["/ü/1", "/ü0", "/\uFFFF/a", "/\U00010000", "/\U0001F600/a", "/\U0001F600b", "/\U0001F601"];
        foreach (var key in keys)
        {
            await PutAsync(key, key);
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await KeysAsync("/ü/"), Is.EqualTo(new[] { "/ü/1" }));
            Assert.That(await KeysAsync("/\uFFFF"), Is.EqualTo(new[] { "/\uFFFF/a" }));
            Assert.That(await KeysAsync("/\U0001F600"), Is.EqualTo(new[] { "/\U0001F600/a", "/\U0001F600b" }));
        });
    }

    [Test]
    public async Task Delete_prefix_removes_the_keys_under_the_prefix_in_one_revision()
    {
        foreach (var key in new[] { "/volumes/p1", "/volumes/p1/a", "/volumes/p1/b", "/volumes/p10/x" })
        {
            await PutAsync(key, "x");
        }

        var result = await _store.TxnAsync(Transaction.Of(new Op.DeletePrefix("/volumes/p1/")));

        Assert.Multiple(async () =>
        {
            Assert.That(result, Is.EqualTo(new TxnResult(true, 5)));
            Assert.That(await KeysAsync(""), Is.EqualTo(new[] { "/volumes/p1", "/volumes/p10/x" }));
            Assert.That(Describe(await TakeAsync(_store.WatchAsync("", 5), 2)), Is.EqualTo(new[] { "Delete /volumes/p1/a= @5", "Delete /volumes/p1/b= @5" }));
        });
    }

    [Test]
    public async Task Returned_values_are_copies_that_do_not_change_the_store()
    {
        var written = Bytes("abc");
        await _store.TxnAsync(Transaction.Of(new Op.Put("/a", written)));
        written[0] = (byte)'X';
        (await _store.GetAsync("/a"))!.Value[1] = (byte)'X';
        (await _store.RangeAsync("/")).Items[0].Value[2] = (byte)'X';

        Assert.That(Text((await _store.GetAsync("/a"))!.Value), Is.EqualTo("abc"));
    }

    [Test]
    public async Task An_empty_value_is_stored_and_read_back_as_empty()
    {
        await _store.TxnAsync(Transaction.Of(new Op.Put("/empty", [])));

        Assert.That((await _store.GetAsync("/empty"))!.Value, Is.Empty);
    }

    [Test]
    public async Task A_watch_replays_history_from_a_past_revision_then_delivers_live_changes_in_order()
    {
        await PutAsync("/a", "1");
        await PutAsync("/b", "1");
        await _store.TxnAsync(Transaction.Of(new Op.Delete("/a"), new Op.Put("/c", Bytes("1"))));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = _store.WatchAsync("/", 2).GetAsyncEnumerator(timeout.Token);

        var past = new List<WatchEvent>();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await watch.MoveNextAsync(), Is.True);
            past.Add(watch.Current);
        }

        var live = watch.MoveNextAsync();
        Assert.That(live.IsCompleted, Is.False, "nothing was committed after revision 3, so the watch must wait");
        await PutAsync("/b", "2");
        Assert.That(await live, Is.True);

        Assert.That(Describe([.. past, watch.Current]), Is.EqualTo(new[] { "Put /b=1 @2", "Delete /a= @3", "Put /c=1 @3", "Put /b=2 @4" }));
        Assert.That((watch.Current.Kv.CreateRevision, watch.Current.Kv.Version), Is.EqualTo((2L, 2L)));
    }

    [Test]
    public async Task A_watch_on_a_prefix_sees_only_changes_under_it()
    {
        var watch = TakeAsync(_store.WatchAsync("/volumes/p1/", 0), 2);
        await PutAsync("/volumes/p10/x", "1");
        await PutAsync("/volumes/p1/a", "1");
        await PutAsync("/volumes/p1", "1");
        await _store.TxnAsync(Transaction.Of(new Op.DeletePrefix("/volumes/")));

        Assert.That(Describe(await watch), Is.EqualTo(new[] { "Put /volumes/p1/a=1 @2", "Delete /volumes/p1/a= @4" }));
    }

    [Test]
    public async Task A_watch_from_revision_0_starts_after_the_revision_current_when_it_is_created()
    {
        await PutAsync("/a", "old");
        var watch = _store.WatchAsync("/", 0);
        await PutAsync("/a", "new");

        Assert.That(Describe(await TakeAsync(watch, 1)), Is.EqualTo(new[] { "Put /a=new @2" }));
    }

    [Test]
    public async Task A_watch_from_a_compacted_revision_throws_CompactedException()
    {
        await _store.DisposeAsync();
        _store = await SqliteMetadataStore.OpenAsync(_dir.File("meta.db"), historyLimit: 3);
        for (var i = 1; i <= 10; i++)
        {
            await PutAsync("/a", i.ToString());
        }

        var compacted = await Assert.ThrowsAsync<CompactedException>(() => TakeAsync(_store.WatchAsync("/", 7), 1));
        Assert.That((compacted!.Requested, compacted.Oldest), Is.EqualTo((7L, 8L)));
        Assert.That(Describe(await TakeAsync(_store.WatchAsync("/", 8), 3)), Is.EqualTo(new[] { "Put /a=8 @8", "Put /a=9 @9", "Put /a=10 @10" }));
    }

    [Test]
    public async Task Cancelling_a_waiting_watch_throws_OperationCanceledException()
    {
        using var cancel = new CancellationTokenSource();
        await using var watch = _store.WatchAsync("/", 0, cancel.Token).GetAsyncEnumerator();
        var waiting = watch.MoveNextAsync();

        await cancel.CancelAsync();

        Assert.That(async () => await waiting, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task Disposing_the_store_ends_its_watches()
    {
        await using var watch = _store.WatchAsync("/", 0).GetAsyncEnumerator();
        var waiting = watch.MoveNextAsync();

        await _store.DisposeAsync();

        Assert.That(await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
        Assert.That(() => _store.GetAsync("/a"), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public async Task Keys_history_and_revision_survive_closing_and_reopening_the_store()
    {
        await PutAsync("/a", "1");
        await _store.TxnAsync(Transaction.Of(new Op.Put("/b", Bytes("1")), new Op.Delete("/a")));
        await _store.DisposeAsync();

        _store = await SqliteMetadataStore.OpenAsync(_dir.File("meta.db"));
        var next = await _store.TxnAsync(Transaction.Of(new Op.Put("/b", Bytes("2"))));

        Assert.Multiple(async () =>
        {
            Assert.That(next.Revision, Is.EqualTo(3));
            Assert.That(await KeysAsync(""), Is.EqualTo(new[] { "/b" }));
            Assert.That((await _store.GetAsync("/b"))!.Version, Is.EqualTo(2));
            Assert.That(Describe(await TakeAsync(_store.WatchAsync("", 1), 4)), Is.EqualTo(new[] { "Put /a=1 @1", "Put /b=1 @2", "Delete /a= @2", "Put /b=2 @3" }));
        });
    }

    [Test]
    public async Task A_second_store_cannot_open_a_file_that_is_in_use()
    {
        var error = await Assert.ThrowsAsync<IOException>(() => SqliteMetadataStore.OpenAsync(_dir.File("meta.db")));

        Assert.That(error!.Message, Does.Contain("is open in another process"));
    }

    internal static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    internal static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    internal static IEnumerable<string> Describe(IEnumerable<WatchEvent> events) =>
        events.Select(e => $"{e.Type} {e.Kv.Key}={Text(e.Kv.Value)} @{e.Kv.ModRevision}");

    /// <summary>The first <paramref name="count"/> events of a watch, or a failure after 10 s.</summary>
    internal static async Task<List<WatchEvent>> TakeAsync(IAsyncEnumerable<WatchEvent> watch, int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = new List<WatchEvent>();
        await using var enumerator = watch.GetAsyncEnumerator(timeout.Token);
        while (events.Count < count && await enumerator.MoveNextAsync())
        {
            events.Add(enumerator.Current);
        }

        return events;
    }

    private Task<TxnResult> PutAsync(string key, string value) => _store.TxnAsync(Transaction.Of(new Op.Put(key, Bytes(value))));

    private async Task<List<string>> KeysAsync(string prefix) => [.. (await _store.RangeAsync(prefix)).Items.Select(kv => kv.Key)];
}
