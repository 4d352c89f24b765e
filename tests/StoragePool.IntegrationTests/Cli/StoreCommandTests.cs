using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Cli;

public sealed class StoreCommandTests : CliTestBase
{
    [Test]
    public async Task Store_add_list_and_remove_work_end_to_end()
    {
        var name = Unique("s");
        var dir = Directory.CreateDirectory(Path.Combine(TempDir, "data")).FullName;

        var added = await OkAsync("store", "add", name, "--path", dir);
        Assert.That(added.Stdout, Does.StartWith($"added store {name} at {dir} ("));

        var table = await OkAsync("store", "list");
        Assert.That(table.Stdout, Does.StartWith("NAME "));
        Assert.That(table.Stdout.Split('\n').Any(l => l.StartsWith(name + " ", StringComparison.Ordinal) && l.Contains(dir, StringComparison.Ordinal)),
            Is.True, table.Stdout);

        var store = Only(await JsonAsync("store", "list"), "name", name);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Str(store, "path"), Is.EqualTo(dir));
            Assert.That(Str(store, "backend"), Is.EqualTo("file"));
            Assert.That(Bytes(store, "capacity_bytes"), Is.GreaterThan(0));
            Assert.That(Bytes(store, "free_bytes"), Is.InRange(1, Bytes(store, "capacity_bytes")));
            Assert.That(Bytes(store, "provisioned_bytes"), Is.Zero);
            Assert.That(Bytes(store, "allocated_bytes"), Is.Zero);
            Assert.That(store.GetProperty("overcommit_ratio").GetDouble(), Is.EqualTo(4.0));
            Assert.That(store.GetProperty("watermark_percent").GetDouble(), Is.EqualTo(5.0));
            Assert.That(store.GetProperty("pool_count").GetInt32(), Is.Zero);
        }

        var removed = await OkAsync("store", "remove", name);
        Assert.That(removed.Stdout, Is.EqualTo($"removed store {name}\n"));
        Assert.That(Names(await JsonAsync("store", "list")), Does.Not.Contain(name));
    }

    [Test]
    public async Task Store_add_takes_the_overcommit_ratio_and_the_watermark()
    {
        var name = await NewStoreAsync("--overcommit-ratio", "2", "--watermark", "10");

        var store = Only(await JsonAsync("store", "list"), "name", name);
        Assert.That(store.GetProperty("overcommit_ratio").GetDouble(), Is.EqualTo(2.0));
        Assert.That(store.GetProperty("watermark_percent").GetDouble(), Is.EqualTo(10.0));
    }

    [Test]
    public async Task Store_add_resolves_a_relative_path_against_the_callers_directory()
    {
        var name = Unique("s");
        Directory.CreateDirectory(Path.Combine(TempDir, "rel"));
        // run from TempDir: cd there, then exec the CLI
        var result = await Tools.RunAsync("/bin/sh", Daemon.CliEnvironment,
            "-c", "cd \"$0\" && exec \"$1\" store add \"$2\" --path rel", TempDir, Repo.Cli, name);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());

        Assert.That(Str(Only(await JsonAsync("store", "list"), "name", name), "path"), Is.EqualTo(Path.Combine(TempDir, "rel")));
    }

    [Test]
    public async Task Store_add_refuses_a_path_that_does_not_exist()
    {
        var result = await FailsAsync(ErrorCode.StorePathInvalid, "store", "add", Unique("s"), "--path", Path.Combine(TempDir, "missing"));
        Assert.That(result.Stderr, Does.Contain(Path.Combine(TempDir, "missing")));
    }

    [Test]
    public async Task Store_add_refuses_a_name_that_exists()
    {
        var name = await NewStoreAsync();
        var other = Directory.CreateDirectory(Path.Combine(TempDir, "other")).FullName;

        await FailsAsync(ErrorCode.AlreadyExists, "store", "add", name, "--path", other);
    }

    [TestCase("bad name")]
    [TestCase("x@y")]
    [TestCase("a/b")]
    [TestCase("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Store_add_refuses_an_invalid_name(string name)
    {
        await FailsAsync(ErrorCode.InvalidName, "store", "add", name, "--path", TempDir);
    }

    [TestCase("0.5", "")]
    [TestCase("", "100")]
    public async Task Store_add_refuses_a_policy_out_of_range(string overcommit, string watermark)
    {
        string[] options = [.. overcommit.Length > 0 ? ["--overcommit-ratio", overcommit] : Array.Empty<string>(),
            .. watermark.Length > 0 ? ["--watermark", watermark] : Array.Empty<string>()];
        await FailsAsync(ErrorCode.InvalidArgument, ["store", "add", Unique("s"), "--path", TempDir, .. options]);
    }

    [Test]
    public async Task Store_remove_of_an_unknown_store_fails()
    {
        await FailsAsync(ErrorCode.StoreNotFound, "store", "remove", Unique("nope"));
    }

    [Test]
    public async Task Store_remove_refuses_a_store_that_has_pools()
    {
        var store = await NewStoreAsync();
        await OkAsync("pool", "create", Unique("p"), "--store", store);

        await FailsAsync(ErrorCode.StoreInUse, "store", "remove", store);
    }
}
