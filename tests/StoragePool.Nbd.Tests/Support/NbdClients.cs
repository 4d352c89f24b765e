using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Support;

/// <summary>The NBD clients the tests run as a user would (qemu-img, qemu-io, nbdinfo, nbdcopy, nbdkit).</summary>
internal static class NbdClients
{
    /// <summary>Fails the test, saying what to install, when a client binary is missing (CI installs them all).</summary>
    public static void Require(params string[] fileNames)
    {
        foreach (var name in fileNames)
        {
            if (!Tools.Exists(name))
            {
                Assert.Fail($"{name} is not installed; apt-get install qemu-utils libnbd-bin nbdkit");
            }
        }
    }
}
