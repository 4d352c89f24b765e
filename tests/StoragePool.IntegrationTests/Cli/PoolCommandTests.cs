using StoragePool.Core.Errors;

namespace StoragePool.IntegrationTests.Cli;

public sealed class PoolCommandTests : CliTestBase
{
    [Test]
    public async Task Pool_create_list_show_and_delete_work_end_to_end()
    {
        var store = await NewStoreAsync();
        var pool = Unique("p");

        var created = await OkAsync("pool", "create", pool, "--store", store);
        Assert.That(created.Stdout, Is.EqualTo($"created pool {pool} on store {store}\n"));

        var table = await OkAsync("pool", "list");
        Assert.That(table.Stdout, Does.StartWith("NAME "));
        Assert.That(table.Stdout.Split('\n').Any(l => l.StartsWith(pool + " ", StringComparison.Ordinal) && l.Contains(store, StringComparison.Ordinal)),
            Is.True, table.Stdout);

        var listed = Only(await JsonAsync("pool", "list"), "name", pool);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Str(listed, "store"), Is.EqualTo(store));
            Assert.That(listed.GetProperty("volume_count").GetInt32(), Is.Zero);
            Assert.That(listed.GetProperty("snapshot_count").GetInt32(), Is.Zero);
            Assert.That(Bytes(listed, "provisioned_bytes"), Is.Zero);
            Assert.That(Bytes(listed, "capacity_bytes"), Is.GreaterThan(0));
            Assert.That(Bytes(listed, "free_bytes"), Is.GreaterThan(0));
            Assert.That(listed.GetProperty("created_at").GetDateTimeOffset(), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
        }

        var shown = await OkAsync("pool", "show", pool);
        Assert.That(shown.Stdout, Does.Contain($"Pool:").And.Contain(pool).And.Contain("Store:").And.Contain(store));

        var json = await JsonAsync("pool", "show", pool);
        Assert.That(Str(json, "name"), Is.EqualTo(pool));
        Assert.That(Str(json, "store"), Is.EqualTo(store));

        var deleted = await OkAsync("pool", "delete", pool);
        Assert.That(deleted.Stdout, Is.EqualTo($"deleted pool {pool}\n"));
        Assert.That(Names(await JsonAsync("pool", "list")), Does.Not.Contain(pool));
    }

    [Test]
    public async Task Pool_show_counts_volumes_snapshots_and_provisioned_bytes()
    {
        var pool = await NewPoolAsync();
        var volume = await NewVolumeAsync(pool, "1G");
        await NewVolumeAsync(pool, "512M");

        var json = await JsonAsync("pool", "show", pool);
        Assert.That(json.GetProperty("volume_count").GetInt32(), Is.EqualTo(2));
        Assert.That(Bytes(json, "provisioned_bytes"), Is.EqualTo((1L << 30) + (512L << 20)));

        // a snapshot counts with its size too: it may come to hold all of it
        await OkAsync("snapshot", "create", volume + "@s1");
        json = await JsonAsync("pool", "show", pool);
        Assert.That(json.GetProperty("snapshot_count").GetInt32(), Is.EqualTo(1));
        Assert.That(Bytes(json, "provisioned_bytes"), Is.EqualTo((2L << 30) + (512L << 20)));
    }

    [Test]
    public async Task Pool_create_refuses_a_name_that_exists()
    {
        var pool = await NewPoolAsync();
        await FailsAsync(ErrorCode.AlreadyExists, "pool", "create", pool, "--store", await NewStoreAsync());
    }

    [Test]
    public async Task Pool_create_on_an_unknown_store_fails()
    {
        await FailsAsync(ErrorCode.StoreNotFound, "pool", "create", Unique("p"), "--store", Unique("nope"));
    }

    [TestCase("bad name")]
    [TestCase("x@y")]
    [TestCase(".hidden")]
    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Pool_create_refuses_an_invalid_name(string name)
    {
        var store = await NewStoreAsync();
        var result = await FailsAsync(ErrorCode.InvalidName, "pool", "create", name, "--store", store);
        Assert.That(result.Stderr, Does.Contain("pool name"));
    }

    [Test]
    public async Task Pool_show_of_an_unknown_pool_fails()
    {
        var result = await FailsAsync(ErrorCode.PoolNotFound, "pool", "show", Unique("nope"));
        await FailsAsync(ErrorCode.PoolNotFound, "pool", "show", Unique("nope"), "--json");
        Assert.That(result.Stderr, Does.Contain("nope"));
    }

    [Test]
    public async Task Pool_delete_of_an_unknown_pool_fails()
    {
        await FailsAsync(ErrorCode.PoolNotFound, "pool", "delete", Unique("nope"));
    }

    [Test]
    public async Task Pool_delete_refuses_a_pool_that_has_volumes()
    {
        var volume = await NewVolumeAsync();
        var pool = volume.Split('/')[0];

        await FailsAsync(ErrorCode.PoolNotEmpty, "pool", "delete", pool);

        await OkAsync("volume", "delete", volume);
        await OkAsync("pool", "delete", pool);
    }

    [Test]
    public async Task Pool_create_without_store_is_a_usage_error()
    {
        var before = await StateAsync();
        var result = await CliAsync("pool", "create", Unique("p"));
        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.InvalidArgument), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--store"));
        Assert.That(await StateAsync(), Is.EqualTo(before));
    }
}
