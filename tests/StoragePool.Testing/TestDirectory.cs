namespace StoragePool.Testing;

/// <summary>
/// A fresh directory under the system's temp directory (mode 0700), deleted with everything in it on dispose.
/// </summary>
public sealed class TestDirectory : IDisposable
{
    /// <param name="prefix">
    /// The start of the directory's name, to tell whose it is if one is left behind. Keep it short: unix socket
    /// paths inside must stay under 108 bytes.
    /// </param>
    public TestDirectory(string prefix = "storagepool-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> in this directory (nothing is created).</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
