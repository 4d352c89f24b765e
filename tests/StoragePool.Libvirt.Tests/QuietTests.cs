using System.Runtime.InteropServices;
using StoragePool.Testing;

namespace StoragePool.Libvirt.Tests;

/// <summary>libvirt prints every error to stderr unless told otherwise; the daemon's stderr is its log.</summary>
public sealed partial class QuietTests
{
    private const int StandardError = 2;

    [Test]
    public void A_failed_libvirt_call_prints_nothing_to_stderr()
    {
        using var dir = new TestDirectory("sp-libvirt-");
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.LookupPool("default-pool")!;

        var captured = dir.File("stderr");
        var saved = Dup(StandardError);
        Assert.That(saved, Is.GreaterThanOrEqualTo(0));
        try
        {
            using var file = File.OpenHandle(captured, FileMode.Create, FileAccess.Write);
            Assert.That(Dup2((int)file.DangerousGetHandle(), StandardError), Is.EqualTo(StandardError));
            Assert.That(pool.Start, Throws.TypeOf<LibvirtException>());
            Assert.That(() => connection.DefinePool("<pool"), Throws.TypeOf<LibvirtException>());
        }
        finally
        {
            _ = Dup2(saved, StandardError);
            _ = Close(saved);
        }
        Assert.That(File.ReadAllText(captured), Is.Empty);
    }

    [LibraryImport("libc", EntryPoint = "dup")]
    private static partial int Dup(int fd);

    [LibraryImport("libc", EntryPoint = "dup2")]
    private static partial int Dup2(int fd, int fd2);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
