using StoragePool.Testing;

namespace StoragePool.Storage.Tests.Support;

/// <summary>
/// A tmpfs mounted on a fresh temp directory, for file systems that are full or read-only.
/// Mounting needs root; the tests that use it run as root (as the daemon does).
/// </summary>
internal sealed class Tmpfs : IDisposable
{
    private readonly TestDirectory _mountPoint = new();

    public Tmpfs(string options)
    {
        try
        {
            Tools.Output("mount", "-t", "tmpfs", "-o", options, "storagepool-test", _mountPoint.Path);
        }
        catch
        {
            _mountPoint.Dispose();
            throw;
        }
    }

    public string Path => _mountPoint.Path;

    public void Dispose()
    {
        Tools.Output("umount", _mountPoint.Path);
        _mountPoint.Dispose();
    }
}
