using StoragePool.Core.Errors;

namespace StoragePool.IntegrationTests.Cli;

public sealed class VolumeCommandTests : CliTestBase
{
    private const long GiB = 1L << 30;

    [Test]
    public async Task Volume_create_list_show_and_delete_work_end_to_end()
    {
        var pool = await NewPoolAsync();
        var volume = $"{pool}/db1";

        var created = await OkAsync("volume", "create", volume, "10G");
        Assert.That(created.Stdout, Is.EqualTo($"created volume {volume} (10 GiB)\n"));

        var table = await OkAsync("volume", "list", pool);
        Assert.That(table.Stdout, Does.StartWith("VOLUME "));
        Assert.That(table.Stdout.Split('\n').Any(l => l.StartsWith(volume + " ", StringComparison.Ordinal) && l.Contains("10 GiB", StringComparison.Ordinal)),
            Is.True, table.Stdout);

        var listed = Only(await JsonAsync("volume", "list", pool), "name", "db1");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Str(listed, "pool"), Is.EqualTo(pool));
            Assert.That(Bytes(listed, "size_bytes"), Is.EqualTo(10 * GiB));
            Assert.That(Bytes(listed, "allocated_bytes"), Is.InRange(0, 10 * GiB));
            Assert.That(listed.GetProperty("snapshot_count").GetInt32(), Is.Zero);
            Assert.That(Str(listed, "state"), Is.EqualTo("ready"));
            Assert.That(Str(listed, "id"), Is.Not.Empty);
        }

        var shown = await OkAsync("volume", "show", volume);
        Assert.That(shown.Stdout, Does.Contain(volume).And.Contain("10 GiB").And.Contain("10737418240 bytes"));
        var json = await JsonAsync("volume", "show", volume);
        Assert.That(Bytes(json, "size_bytes"), Is.EqualTo(10 * GiB));
        Assert.That(Str(json, "id"), Is.EqualTo(Str(listed, "id")));

        var deleted = await OkAsync("volume", "delete", volume);
        Assert.That(deleted.Stdout, Is.EqualTo($"deleted volume {volume}\n"));
        Assert.That(Names(await JsonAsync("volume", "list", pool)), Is.Empty);
    }

    [TestCase("512M", 512L << 20, "512 MiB")]
    [TestCase("1.5G", 3L << 29, "1.5 GiB")]
    [TestCase("10GiB", 10L << 30, "10 GiB")]
    [TestCase("4096", 4096L, "4 KiB")]
    public async Task Volume_create_understands_sizes_with_units(string size, long bytes, string shown)
    {
        var volume = $"{await NewPoolAsync()}/{Unique("v")}";

        var created = await OkAsync("volume", "create", volume, size);

        Assert.That(created.Stdout, Is.EqualTo($"created volume {volume} ({shown})\n"));
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(bytes));
    }

    [Test]
    public async Task Volume_create_rounds_the_size_up_to_4_KiB_and_says_so_on_stderr()
    {
        var volume = $"{await NewPoolAsync()}/{Unique("v")}";

        var result = await CliAsync("volume", "create", volume, "10001");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Is.EqualTo($"created volume {volume} (12 KiB)\n"));
        var notes = result.Stderr.TrimEnd('\n').Split('\n');
        Assert.That(notes, Has.Length.EqualTo(1), result.ToString());
        Assert.That(notes[0], Does.StartWith("storagepool: note: ").And.Contain("12288"));
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(12288));
    }

    [Test]
    public async Task Volume_list_shows_every_pool_or_only_the_one_asked_for()
    {
        var first = await NewVolumeAsync();
        var second = await NewVolumeAsync();
        var firstPool = first.Split('/')[0];

        var all = (await JsonAsync("volume", "list")).EnumerateArray().Select(v => $"{Str(v, "pool")}/{Str(v, "name")}").ToList();
        var one = (await JsonAsync("volume", "list", firstPool)).EnumerateArray().Select(v => $"{Str(v, "pool")}/{Str(v, "name")}").ToList();

        Assert.That(all, Does.Contain(first).And.Contain(second));
        Assert.That(one, Is.EqualTo(new[] { first }));
    }

    [Test]
    public async Task Volume_list_of_an_unknown_pool_fails()
    {
        await FailsAsync(ErrorCode.PoolNotFound, "volume", "list", Unique("nope"));
    }

    [Test]
    public async Task Volume_resize_grows_a_volume()
    {
        var volume = await NewVolumeAsync(size: "10G");

        var resized = await OkAsync("volume", "resize", volume, "20G");

        Assert.That(resized.Stdout, Is.EqualTo($"resized {volume} to 20 GiB\n"));
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(20 * GiB));
    }

    [Test]
    public async Task Volume_resize_refuses_to_shrink_without_allow_shrink_and_shrinks_with_it()
    {
        var volume = await NewVolumeAsync(size: "10G");

        var refused = await FailsAsync(ErrorCode.ShrinkNotAllowed, "volume", "resize", volume, "5G");
        Assert.That(refused.Stderr, Does.Contain("--allow-shrink"));
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(10 * GiB));

        var shrunk = await OkAsync("volume", "resize", volume, "5G", "--allow-shrink");
        Assert.That(shrunk.Stdout, Is.EqualTo($"resized {volume} to 5 GiB\n"));
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(5 * GiB));
    }

    [Test]
    public async Task Volume_resize_of_an_unknown_volume_fails()
    {
        await FailsAsync(ErrorCode.VolumeNotFound, "volume", "resize", $"{await NewPoolAsync()}/{Unique("nope")}", "2G");
    }

    [Test]
    public async Task Volume_create_refuses_a_name_that_exists()
    {
        var volume = await NewVolumeAsync();
        await FailsAsync(ErrorCode.AlreadyExists, "volume", "create", volume, "2G");
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(GiB));
    }

    [Test]
    public async Task Volume_create_in_an_unknown_pool_fails()
    {
        await FailsAsync(ErrorCode.PoolNotFound, "volume", "create", $"{Unique("nope")}/v", "1G");
    }

    [TestCase("bad name")]
    [TestCase("-x")]
    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Volume_create_refuses_an_invalid_name(string name)
    {
        var pool = await NewPoolAsync();
        var result = await FailsAsync(ErrorCode.InvalidName, "volume", "create", $"{pool}/{name}", "1G");
        Assert.That(result.Stderr, Does.Contain("volume name"));
    }

    [TestCase("db1")]
    [TestCase("p/v@s")]
    public async Task Volume_create_refuses_what_is_not_POOL_slash_NAME(string text)
    {
        var result = await FailsAsync(ErrorCode.InvalidArgument, "volume", "create", text, "1G");
        Assert.That(result.Stderr, Does.Contain("POOL/NAME"));
    }

    [TestCase("10X")]
    [TestCase("-5G")]
    [TestCase("0")]
    [TestCase("")]
    [TestCase("2P")]
    public async Task Volume_create_refuses_an_invalid_size(string size)
    {
        var pool = await NewPoolAsync();
        var result = await FailsAsync(ErrorCode.InvalidSize, "volume", "create", $"{pool}/{Unique("v")}", size);
        Assert.That(result.Stderr, Does.Contain("size"));
    }

    [TestCase("10X")]
    [TestCase("-5G")]
    [TestCase("0")]
    public async Task Volume_resize_refuses_an_invalid_size(string size)
    {
        var volume = await NewVolumeAsync();
        await FailsAsync(ErrorCode.InvalidSize, "volume", "resize", volume, size, "--allow-shrink");
    }

    [Test]
    public async Task Volume_show_and_delete_of_an_unknown_volume_fail()
    {
        var pool = await NewPoolAsync();
        var missing = $"{pool}/{Unique("nope")}";

        var shown = await FailsAsync(ErrorCode.VolumeNotFound, "volume", "show", missing);
        Assert.That(shown.Stderr, Does.Contain(missing.Split('/')[1]));
        await FailsAsync(ErrorCode.VolumeNotFound, "volume", "show", missing, "--json");
        await FailsAsync(ErrorCode.VolumeNotFound, "volume", "delete", missing);
        await FailsAsync(ErrorCode.PoolNotFound, "volume", "show", $"{Unique("nope")}/v");
    }

    [Test]
    public async Task Volume_delete_refuses_a_volume_with_snapshots_unless_told_to_delete_them()
    {
        var volume = await NewVolumeAsync();
        await OkAsync("snapshot", "create", volume + "@s1");

        var refused = await FailsAsync(ErrorCode.VolumeHasSnapshots, "volume", "delete", volume);
        Assert.That(refused.Stderr, Does.Contain("--with-snapshots"));

        var deleted = await OkAsync("volume", "delete", volume, "--with-snapshots");
        Assert.That(deleted.Stdout, Is.EqualTo($"deleted volume {volume}\n"));
        Assert.That(Names(await JsonAsync("volume", "list", volume.Split('/')[0])), Is.Empty);
        await FailsAsync(ErrorCode.VolumeNotFound, "snapshot", "list", volume);
    }

    [Test]
    public async Task Volume_clone_makes_a_new_volume_from_a_snapshot()
    {
        var volume = await NewVolumeAsync(size: "2G");
        var pool = volume.Split('/')[0];
        await OkAsync("snapshot", "create", volume + "@s1");
        await OkAsync("volume", "resize", volume, "3G");
        var clone = $"{pool}/{Unique("c")}";

        var cloned = await OkAsync("volume", "clone", volume + "@s1", clone);

        Assert.That(cloned.Stdout, Is.EqualTo($"cloned {volume}@s1 to volume {clone} (2 GiB)\n"));
        var json = await JsonAsync("volume", "show", clone);
        Assert.That(Bytes(json, "size_bytes"), Is.EqualTo(2 * GiB));
        Assert.That(json.GetProperty("snapshot_count").GetInt32(), Is.Zero);
        Assert.That(Bytes(await JsonAsync("volume", "show", volume), "size_bytes"), Is.EqualTo(3 * GiB));
    }

    [Test]
    public async Task Volume_clone_into_another_pool_on_the_same_store_works()
    {
        var store = await NewStoreAsync();
        var (first, second) = (Unique("p"), Unique("p"));
        await OkAsync("pool", "create", first, "--store", store);
        await OkAsync("pool", "create", second, "--store", store);
        var volume = await NewVolumeAsync(first);
        await OkAsync("snapshot", "create", volume + "@s1");

        await OkAsync("volume", "clone", volume + "@s1", $"{second}/copy");

        Assert.That(Names(await JsonAsync("volume", "list", second)), Is.EqualTo(new[] { "copy" }));
    }

    [Test]
    public async Task Volume_clone_fails_for_an_unknown_snapshot_or_an_existing_target()
    {
        var volume = await NewVolumeAsync();
        var other = await NewVolumeAsync(volume.Split('/')[0]);
        await OkAsync("snapshot", "create", volume + "@s1");

        await FailsAsync(ErrorCode.SnapshotNotFound, "volume", "clone", volume + "@nope", $"{volume.Split('/')[0]}/{Unique("c")}");
        await FailsAsync(ErrorCode.AlreadyExists, "volume", "clone", volume + "@s1", other);
        await FailsAsync(ErrorCode.PoolNotFound, "volume", "clone", volume + "@s1", $"{Unique("nope")}/c");
        await FailsAsync(ErrorCode.InvalidArgument, "volume", "clone", volume, $"{volume.Split('/')[0]}/{Unique("c")}");
    }

    [Test]
    public async Task Volume_revert_puts_the_volume_back_to_its_snapshot()
    {
        var volume = await NewVolumeAsync(size: "2G");
        await OkAsync("snapshot", "create", volume + "@s1");
        await OkAsync("volume", "resize", volume, "4G");

        var reverted = await OkAsync("volume", "revert", volume + "@s1");

        Assert.That(reverted.Stdout, Is.EqualTo($"reverted {volume} to snapshot s1 (2 GiB)\n"));
        var json = await JsonAsync("volume", "show", volume);
        Assert.That(Bytes(json, "size_bytes"), Is.EqualTo(2 * GiB));
        Assert.That(json.GetProperty("snapshot_count").GetInt32(), Is.EqualTo(1), "the snapshot stays");
    }

    [Test]
    public async Task Volume_revert_to_an_unknown_snapshot_fails()
    {
        var volume = await NewVolumeAsync();
        await FailsAsync(ErrorCode.SnapshotNotFound, "volume", "revert", volume + "@nope");
        await FailsAsync(ErrorCode.InvalidArgument, "volume", "revert", volume);
    }

    [Test]
    public async Task Volume_create_fails_with_no_space_on_a_store_at_its_watermark()
    {
        // the file system under the temp dir is far less than 99.9 % free, so the watermark bites for real
        var store = await NewStoreAsync("--watermark", "99.9");
        var pool = Unique("p");
        await OkAsync("pool", "create", pool, "--store", store);

        var result = await FailsAsync(ErrorCode.NoSpace, "volume", "create", $"{pool}/{Unique("v")}", "1G");

        Assert.That(result.Stderr, Does.Contain("watermark"));
        Assert.That(Names(await JsonAsync("volume", "list", pool)), Is.Empty);
    }

    [Test]
    public async Task Volume_create_fails_with_no_space_past_the_overcommit_limit()
    {
        var store = await NewStoreAsync("--overcommit-ratio", "1");
        var pool = Unique("p");
        await OkAsync("pool", "create", pool, "--store", store);
        var capacity = Bytes(Only(await JsonAsync("store", "list"), "name", store), "capacity_bytes");

        var tooBig = ((capacity / 4096) + 1) * 4096;
        await FailsAsync(ErrorCode.NoSpace, "volume", "create", $"{pool}/{Unique("v")}", tooBig.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
