using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
namespace StoragePool.IntegrationTests.Cli;

public sealed class StatusCommandTests : CliTestBase
{
    [Test]
    public async Task Status_says_when_a_store_refuses_new_volumes_and_why()
    {
        // a daemon of its own: the other CLI tests share one, and expect a status with nothing to warn of
        await using var daemon = await DaemonProcess.StartAsync(extraArgs: ["--no-default-pool"]);
        var full = Directory.CreateDirectory(Path.Combine(daemon.Root, "full")).FullName;
        (await daemon.RunCliAsync("store", "add", "full", "--path", full, "--watermark", "99")).Succeeded();

        var status = (await daemon.RunCliAsync("status")).Succeeded();
        var json = (await daemon.RunCliAsync("status", "--json")).Succeeded();
        var refused = await daemon.RunCliAsync("pool", "create", "p", "--store", "full");

        Assert.That(status.Stderr, Does.Contain("storagepool: note: store 'full': ").And.Contain("below the 99% watermark"));
        Assert.That(json.Stdout, Does.Contain("\"warning\": \"").And.Contain("watermark"));
        Assert.That(refused.ExitCode, Is.Zero, "a pool takes no space");
        var create = await daemon.RunCliAsync("volume", "create", "p/v", "1G");
        Assert.That(create.ExitCode, Is.EqualTo((int)ErrorCode.NoSpace), "what status warned of");
    }

    [Test]
    public async Task Status_shows_stores_pools_volumes_and_space_as_plain_text_when_redirected()
    {
        var store = await NewStoreAsync();
        var pool = Unique("p");
        await OkAsync("pool", "create", pool, "--store", store);
        var volume = await NewVolumeAsync(pool, "3G");

        var status = await OkAsync("status");

        Assert.That(status.Stdout, Does.Not.Contain("\u001b"), "no ANSI escapes when stdout is not a terminal");
        Assert.That(status.Stdout, Does.Not.Contain("│").And.Not.Contain("─"), "no box drawing when stdout is not a terminal");
        Assert.That(status.Stdout.Split('\n').All(l => l == l.TrimEnd()), Is.True, "no trailing blanks");
        Assert.That(status.Stdout, Does.Contain("Stores:").And.Contain("Pools:").And.Contain("Volumes:").And.Contain("Provisioned:"));
        var lines = status.Stdout.Split('\n');
        Assert.That(lines.Any(l => l.StartsWith(store + " ", StringComparison.Ordinal)), Is.True, status.Stdout);
        Assert.That(lines.Any(l => l.StartsWith(pool + " ", StringComparison.Ordinal) && l.Contains(store, StringComparison.Ordinal)), Is.True, status.Stdout);
        Assert.That(lines.Any(l => l.StartsWith(volume + " ", StringComparison.Ordinal) && l.Contains("3 GiB", StringComparison.Ordinal)), Is.True, status.Stdout);
    }

    [Test]
    public async Task Status_json_has_the_stores_pools_and_totals_in_bytes()
    {
        var store = await NewStoreAsync();
        var pool = Unique("p");
        await OkAsync("pool", "create", pool, "--store", store);
        var volume = await NewVolumeAsync(pool, "3G");
        await OkAsync("snapshot", "create", volume + "@s1");

        var status = await JsonAsync("status");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Str(status, "version"), Is.Not.Empty);
            Assert.That(Str(status, "node"), Is.Not.Empty);
            Assert.That(Names(status.GetProperty("stores")), Does.Contain(store));
            Assert.That(Str(Only(status.GetProperty("pools"), "name", pool), "store"), Is.EqualTo(store));
            Assert.That(Bytes(Only(status.GetProperty("pools"), "name", pool), "provisioned_bytes"), Is.EqualTo(2 * (3L << 30)),
                "the volume and its snapshot");
            Assert.That(status.GetProperty("volume_count").GetInt32(), Is.GreaterThanOrEqualTo(1));
            Assert.That(status.GetProperty("snapshot_count").GetInt32(), Is.GreaterThanOrEqualTo(1));
            Assert.That(Bytes(status, "provisioned_bytes"), Is.GreaterThanOrEqualTo(3L << 30));
            Assert.That(Bytes(status, "allocated_bytes"), Is.GreaterThanOrEqualTo(0));
        }
    }

    [Test]
    public async Task Lists_and_show_print_no_escapes_when_redirected()
    {
        var volume = await NewVolumeAsync();
        await OkAsync("snapshot", "create", volume + "@s1");

        foreach (var args in new[]
        {
            new[] { "store", "list" }, ["pool", "list"], ["pool", "show", volume.Split('/')[0]], ["volume", "list"],
            ["volume", "show", volume], ["snapshot", "list", volume],
        })
        {
            var result = await OkAsync(args);
            Assert.That(result.Stdout, Does.Not.Contain("\u001b"), string.Join(' ', args));
            Assert.That(result.Stdout.Split('\n').All(l => l == l.TrimEnd()), Is.True, $"no trailing blanks: {string.Join(' ', args)}\n{result.Stdout}");
        }
    }
}
