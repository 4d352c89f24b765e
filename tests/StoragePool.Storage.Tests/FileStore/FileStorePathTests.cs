using NUnit.Framework;
using StoragePool.Core.Errors;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests;

public sealed class FileStorePathTests
{
    private TestDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TestDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void A_missing_directory_is_refused_with_the_command_that_creates_it()
    {
        var missing = Path.Combine(_directory.Path, "no", "such");

        Assert.That(() => FileStore.ValidatePath(missing),
            Fails.With(ErrorCode.StorePathInvalid, $"'{missing}' does not exist", $"mkdir -p {missing}"));
    }

    [Test]
    public void A_file_is_refused_because_it_is_not_a_directory()
    {
        var file = Path.Combine(_directory.Path, "file");
        File.WriteAllText(file, "not a directory");

        Assert.That(() => FileStore.ValidatePath(file),
            Fails.With(ErrorCode.StorePathInvalid, $"'{file}' is a file, not a directory"));
    }

    [Test]
    public void A_relative_path_is_refused()
    {
        Assert.That(() => FileStore.ValidatePath("srv/storagepool"),
            Fails.With(ErrorCode.StorePathInvalid, "'srv/storagepool' is not an absolute path"));
    }

    [Test]
    public void A_directory_on_a_read_only_file_system_is_refused_even_for_root()
    {
        using var readOnly = new Tmpfs("ro,size=1m");

        Assert.That(() => FileStore.ValidatePath(readOnly.Path),
            Fails.With(ErrorCode.StorePathInvalid, $"'{readOnly.Path}' is not writable", "Read-only file system"));
    }

    [Test]
    public void A_writable_directory_passes_and_keeps_no_probe_file()
    {
        FileStore.ValidatePath(_directory.Path);

        Assert.That(Directory.EnumerateFileSystemEntries(_directory.Path), Is.Empty);
    }

    [Test]
    public void Opening_a_store_creates_its_volume_and_snapshot_directories()
    {
        _ = new FileStore(_directory.Path);

        Assert.That(Directory.GetDirectories(_directory.Path).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "volumes", "snapshots" }));
    }

    [Test]
    public void Opening_a_store_on_a_missing_directory_fails_and_creates_nothing()
    {
        var missing = Path.Combine(_directory.Path, "unmounted");

        Assert.That(() => new FileStore(missing), Fails.With(ErrorCode.StorePathInvalid, "does not exist"));
        Assert.That(Directory.Exists(missing), Is.False);
    }
}
