using StoragePool.Core.Errors;

namespace StoragePool.IntegrationTests.Cli;

public sealed class SnapshotCommandTests : CliTestBase
{
    [Test]
    public async Task Snapshot_create_list_and_delete_work_end_to_end()
    {
        var volume = await NewVolumeAsync(size: "2G");
        var (pool, name) = (volume.Split('/')[0], volume.Split('/')[1]);

        var created = await OkAsync("snapshot", "create", volume + "@s1");
        Assert.That(created.Stdout, Is.EqualTo($"created snapshot {volume}@s1\n"));
        await OkAsync("snapshot", "create", volume + "@s2");

        var table = await OkAsync("snapshot", "list", volume);
        Assert.That(table.Stdout, Does.StartWith("SNAPSHOT "));
        Assert.That(table.Stdout, Does.Contain($"{volume}@s1").And.Contain($"{volume}@s2").And.Contain("2 GiB"));

        var json = await JsonAsync("snapshot", "list", volume);
        Assert.That(Names(json), Is.EquivalentTo(new[] { "s1", "s2" }));
        var s1 = Only(json, "name", "s1");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Str(s1, "pool"), Is.EqualTo(pool));
            Assert.That(Str(s1, "volume"), Is.EqualTo(name));
            Assert.That(Str(s1, "id"), Is.Not.Empty);
            Assert.That(Bytes(s1, "size_bytes"), Is.EqualTo(2L << 30));
            Assert.That(Bytes(s1, "allocated_bytes"), Is.GreaterThanOrEqualTo(0));
        }
        Assert.That((await JsonAsync("volume", "show", volume)).GetProperty("snapshot_count").GetInt32(), Is.EqualTo(2));

        var deleted = await OkAsync("snapshot", "delete", volume + "@s1");
        Assert.That(deleted.Stdout, Is.EqualTo($"deleted snapshot {volume}@s1\n"));
        Assert.That(Names(await JsonAsync("snapshot", "list", volume)), Is.EqualTo(new[] { "s2" }));
    }

    [Test]
    public async Task Snapshot_list_of_a_volume_without_snapshots_is_empty()
    {
        var volume = await NewVolumeAsync();

        Assert.That(Names(await JsonAsync("snapshot", "list", volume)), Is.Empty);
        Assert.That((await OkAsync("snapshot", "list", volume)).Stdout.Trim(), Does.StartWith("SNAPSHOT").And.Not.Contain("\n"));
    }

    [Test]
    public async Task Snapshot_create_refuses_a_name_that_exists()
    {
        var volume = await NewVolumeAsync();
        await OkAsync("snapshot", "create", volume + "@s1");

        await FailsAsync(ErrorCode.AlreadyExists, "snapshot", "create", volume + "@s1");
    }

    [Test]
    public async Task Snapshot_create_of_an_unknown_volume_fails()
    {
        var pool = await NewPoolAsync();
        await FailsAsync(ErrorCode.VolumeNotFound, "snapshot", "create", $"{pool}/{Unique("nope")}@s1");
        await FailsAsync(ErrorCode.PoolNotFound, "snapshot", "create", $"{Unique("nope")}/v@s1");
    }

    [TestCase("bad name")]
    [TestCase("-x")]
    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Snapshot_create_refuses_an_invalid_name(string name)
    {
        var volume = await NewVolumeAsync();
        var result = await FailsAsync(ErrorCode.InvalidName, "snapshot", "create", $"{volume}@{name}");
        Assert.That(result.Stderr, Does.Contain("snapshot name"));
    }

    [Test]
    public async Task Snapshot_create_refuses_what_is_not_POOL_slash_NAME_at_SNAP()
    {
        var volume = await NewVolumeAsync();
        var result = await FailsAsync(ErrorCode.InvalidArgument, "snapshot", "create", volume);
        Assert.That(result.Stderr, Does.Contain("POOL/NAME@SNAP"));
    }

    [Test]
    public async Task Snapshot_delete_of_an_unknown_snapshot_fails()
    {
        var volume = await NewVolumeAsync();
        await OkAsync("snapshot", "create", volume + "@s1");

        var result = await FailsAsync(ErrorCode.SnapshotNotFound, "snapshot", "delete", volume + "@nope");
        Assert.That(result.Stderr, Does.Contain("nope"));
        await FailsAsync(ErrorCode.VolumeNotFound, "snapshot", "delete", $"{volume.Split('/')[0]}/{Unique("nope")}@s1");
    }

    [Test]
    public async Task Snapshot_list_of_an_unknown_volume_fails()
    {
        var pool = await NewPoolAsync();
        await FailsAsync(ErrorCode.VolumeNotFound, "snapshot", "list", $"{pool}/{Unique("nope")}");
        await FailsAsync(ErrorCode.VolumeNotFound, "snapshot", "list", $"{pool}/{Unique("nope")}", "--json");
    }
}
