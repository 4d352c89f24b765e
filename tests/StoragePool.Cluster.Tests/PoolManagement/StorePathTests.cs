using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;

namespace StoragePool.Cluster.Tests;

/// <summary>A store is a directory of its own: anything else is refused and nothing is written anywhere.</summary>
public class StorePathTests
{
    [TestCase("/etc", "system directory /etc")]
    [TestCase("/", "shared")]
    [TestCase("/dev", "system directory /dev")]
    [TestCase("", "is empty")]
    [TestCase("/srv/a\0b", "control character")]
    [TestCase("relative/dir", "not an absolute path")]
    [TestCase("the data directory", "holds the daemon's data directory")]
    [TestCase("in the data directory", "inside the daemon's data directory")]
    [TestCase("another store's volumes/", "inside one another")]
    [TestCase("another store", "already store 's'")]
    [TestCase("a link to /etc", "system directory /etc")]
    [TestCase("a link to another store", "already store 's'")]
    [TestCase("missing", "does not exist")]
    public async Task A_store_path_that_is_not_a_directory_of_its_own_is_refused_and_nothing_changes(string given, string reason)
    {
        await using var f = await PoolManagerFixture.CreateAsync();
        Directory.CreateDirectory(f.DataDirectory);
        await f.Manager.AddStoreAsync("s", f.StorePath, null, null);
        var path = given switch
        {
            "the data directory" => f.DataDirectory,
            "in the data directory" => Path.Combine(f.DataDirectory, "db"),
            "another store's volumes/" => Path.Combine(f.StorePath, "volumes"),
            "another store" => f.StorePath,
            "a link to /etc" => Link(f, "to-etc", "/etc"),
            "a link to another store" => Link(f, "to-store", f.StorePath),
            "missing" => Path.Combine(f.Root, "missing"),
            _ => given,
        };
        var before = Snapshot(path);

        var e = (await Assert.CatchAsync<StoragePoolException>(() => f.Manager.AddStoreAsync("t", path, null, null)))!;

        Assert.That(e.Code, Is.EqualTo(ErrorCode.StorePathInvalid), e.Message);
        Assert.That(e.Message, Does.StartWith("store path").And.Contain(reason));
        Assert.That((await f.Manager.ListStoresAsync()).Select(s => s.Name), Is.EqualTo(new[] { "s" }));
        Assert.That(Snapshot(path), Is.EqualTo(before), "nothing was made in the refused directory");
    }

    [Test]
    public async Task Removing_a_store_takes_away_the_directories_it_made_and_nothing_else()
    {
        await using var f = await PoolManagerFixture.CreateAsync();
        File.WriteAllText(Path.Combine(f.StorePath, "admins-notes.txt"), "mine");
        await f.Manager.AddStoreAsync("s", f.StorePath, null, null);
        await f.Manager.CreatePoolAsync("p", "s");
        await f.Manager.CreateVolumeAsync(new VolumeRef("p", "v"), ByteSize.MiB);
        await f.Manager.DeleteVolumeAsync(new VolumeRef("p", "v"), withSnapshots: true);
        await f.Manager.DeletePoolAsync("p");

        await f.Manager.RemoveStoreAsync("s");

        Assert.That(Directory.GetFileSystemEntries(f.StorePath).Select(Path.GetFileName), Is.EqualTo(new[] { "admins-notes.txt" }));
    }

    private static string Link(PoolManagerFixture f, string name, string target)
    {
        var link = Path.Combine(f.Root, name);
        File.CreateSymbolicLink(link, target);
        return link;
    }

    /// <summary>What is in the directory now (nothing when it is not one), to see that a refusal made nothing there.</summary>
    private static string[] Snapshot(string path) =>
        path.Length > 0 && !path.Contains('\0', StringComparison.Ordinal) && Path.IsPathFullyQualified(path) && Directory.Exists(path)
            ? [.. Directory.GetFileSystemEntries(path).Order(StringComparer.Ordinal)]
            : [];
}
