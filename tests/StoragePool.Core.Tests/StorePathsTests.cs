using StoragePool.Core.Naming;

namespace StoragePool.Core.Tests;

public class StorePathsTests
{
    private static readonly (string, string)[] Stores = [("fast", "/srv/fast")];

    [TestCase("/srv/storagepool")]
    [TestCase("/srv/fast2")]
    [TestCase("/var/lib/storagepool/stores/local")]
    [TestCase("/var/lib/storagepool/stores/second")]
    [TestCase("/tmp/sp-test/store")]
    [TestCase("/data//disks/../disks/nvme/")]
    public void A_directory_of_its_own_may_be_a_store(string path) =>
        Assert.That(StorePaths.Problem(path, "/var/lib/storagepool", Stores), Is.Null);

    [TestCase("", "is empty")]
    [TestCase("relative/dir", "is not an absolute path")]
    [TestCase("/srv/a\0b", "contains a control character")]
    [TestCase("/srv/a\nb", "contains a control character")]
    [TestCase("/", "is shared with everything else there")]
    [TestCase("/srv", "is shared with everything else there")]
    [TestCase("/var/lib/", "is shared with everything else there")]
    [TestCase("/etc", "is the system directory /etc")]
    [TestCase("/etc/storagepool", "is inside the system directory /etc")]
    [TestCase("/dev", "is the system directory /dev")]
    [TestCase("/proc/1", "is inside the system directory /proc")]
    [TestCase("/usr/../etc", "is the system directory /etc")]
    [TestCase("/var/lib/storagepool", "holds the daemon's data directory")]
    [TestCase("/var/lib", "is shared")]
    [TestCase("/var/lib/storagepool/stores", "is inside the daemon's data directory")]
    [TestCase("/var/lib/storagepool/journal", "is inside the daemon's data directory")]
    [TestCase("/srv/fast", "is already store 'fast'")]
    [TestCase("/srv/fast/volumes", "inside one another")]
    [TestCase("/srv/fast/../fast/snapshots", "inside one another")]
    public void Anything_else_is_refused_with_the_reason(string path, string reason) =>
        Assert.That(StorePaths.Problem(path, "/var/lib/storagepool", Stores), Does.Contain(reason));

    [Test]
    public void A_store_around_another_is_refused_too() =>
        Assert.That(StorePaths.Problem("/srv/pools", null, [("inner", "/srv/pools/inner")]), Does.Contain("inside one another"));
}
