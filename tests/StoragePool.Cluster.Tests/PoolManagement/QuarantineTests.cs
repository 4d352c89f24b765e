using System.Text;
using StoragePool.Cluster.Control;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;

namespace StoragePool.Cluster.Tests;

/// <summary>
/// Records that older builds let in (a volume without a name, names with '/', '..', NUL, newlines, 5000 characters,
/// unreadable JSON, a key that disagrees with its record) are set aside at start: never listed, never counted, never
/// handed to the file system, and everything else goes on working.
/// </summary>
public class QuarantineTests
{
    private static readonly DateTimeOffset When = DateTimeOffset.UnixEpoch;

    private static IEnumerable<TestCaseData> BadRecords()
    {
        yield return Bad("a volume without a name", "/volumes/p/", Volume("p", null!), "volume name '(none)' is empty");
        yield return Bad("a path as a name", "/volumes/p/../../etc/passwd", Volume("p", "../../etc/passwd"), "volume name '../../etc/passwd' starts with '.'");
        yield return Bad("a slash", "/volumes/p/a/b", Volume("p", "a/b"), "volume name 'a/b' contains '/'");
        yield return Bad("a space", "/volumes/p/a b", Volume("p", "a b"), "volume name 'a b' contains the character U+0020");
        yield return Bad("a NUL", "/volumes/p/a\0b", Volume("p", "a\0b"), "volume name 'a\\u0000b' contains the character U+0000");
        yield return Bad("a newline", "/volumes/p/a\nforged", Volume("p", "a\nforged"), "volume name 'a\\nforged' contains the character U+000A");
        yield return Bad("5000 characters", "/volumes/p/" + new string('x', 5000), Volume("p", new string('x', 5000)), "(5000 characters)' is 5000 characters long");
        yield return Bad("a key that disagrees", "/volumes/p/x", Volume("p", "y"), "its key names 'p/x' but the record 'p/y'");
        yield return Bad("a negative size", "/volumes/p/neg", Volume("p", "neg") with { SizeBytes = -4096 }, "its size -4096 is negative");
        yield return Bad("an id that is a path", "/volumes/p/idpath", Volume("p", "idpath") with { Id = "../x" }, "its id '../x'");
        yield return Bad("unreadable JSON", "/volumes/p/garbage", Encoding.UTF8.GetBytes("{not json"), "it cannot be read");
        yield return Bad("a volume of a pool that is not there", "/volumes/nopool/v", Volume("nopool", "v"), "its pool 'nopool' does not exist");
        yield return Bad("a snapshot with a bad name", "/snapshots/p/good/s s",
            MetadataJson.Encode(new SnapshotRecord(Ids.New(), "p", "good", Ids.New(), "s s", ByteSize.MiB, When)), "snapshot name 's s'");
        yield return Bad("a snapshot of no volume", "/snapshots/p/gone/s",
            MetadataJson.Encode(new SnapshotRecord(Ids.New(), "p", "gone", Ids.New(), "s", ByteSize.MiB, When)), "its volume 'p/gone'");
        yield return Bad("a store with a relative path", "/stores/rel",
            MetadataJson.Encode(new StoreRecord("rel", "file", "relative/dir", 4, 5, When)), "its path 'relative/dir' is not an absolute path");
    }

    [TestCaseSource(nameof(BadRecords))]
    public async Task A_record_that_cannot_be_served_is_set_aside_at_start_and_the_rest_works(string key, byte[] value, string reason)
    {
        await using var f = await PoolManagerFixture.CreateAsync();
        await f.Manager.AddStoreAsync("s", f.StorePath, null, null);
        await f.Manager.CreatePoolAsync("p", "s");
        await f.Manager.CreateVolumeAsync(new VolumeRef("p", "good"), 4 * ByteSize.MiB);
        await f.Metadata.TxnAsync(Transaction.Of(new Op.Put(key, value)));
        await f.ReopenAsync();

        await f.Manager.RecoverAsync();

        Assert.That((await f.Manager.ListVolumesAsync("p")).Select(v => v.Name), Is.EqualTo(new[] { "good" }));
        Assert.That((await f.Manager.ListVolumesAsync(null)).Select(v => v.Name), Is.EqualTo(new[] { "good" }));
        Assert.That((await f.Manager.GetPoolAsync("p")).ProvisionedBytes, Is.EqualTo(4 * ByteSize.MiB));
        Assert.That(await f.Manager.ListExportsAsync(), Is.EqualTo(new[] { "p/good" }));
        Assert.That(await f.Metadata.GetAsync(key), Is.Null, "gone from where operations look");
        var moved = await f.Metadata.GetAsync(MetadataKeys.Quarantine + key);
        Assert.That(moved?.Value, Is.EqualTo(value), "kept, as it was, for an admin to look at");
        Assert.That(f.Log, Does.Contain(reason));
        Assert.That(f.Log, Does.Not.Contain("\nforged"), "a newline in a name cannot start a line of its own");

        // everything else works, including what the bad record used to block
        await f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "good", "s1"));
        await f.Manager.DeleteVolumeAsync(new VolumeRef("p", "good"), withSnapshots: true);
        await f.Manager.DeletePoolAsync("p");
        await f.ReopenAsync();
        await f.Manager.RecoverAsync();
        Assert.That(await f.Manager.ListPoolsAsync(), Is.Empty);
        Assert.That(await f.Metadata.GetAsync(MetadataKeys.Quarantine + key), Is.Not.Null, "a second start leaves it there");
    }

    private static TestCaseData Bad(string what, string key, object record, string reason) =>
        new TestCaseData(key, record as byte[] ?? MetadataJson.Encode((VolumeRecord)record), reason).SetArgDisplayNames(what);

    private static VolumeRecord Volume(string pool, string name) => new(Ids.New(), pool, name, ByteSize.MiB, When);
}
