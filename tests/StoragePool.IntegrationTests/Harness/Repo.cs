namespace StoragePool.IntegrationTests.Harness;

/// <summary>Paths in this repository (found from the test binary's location).</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release, the same as the tests were built with.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string Daemon => Binary("StoragePool.Daemon", "storagepoold");

    public static string Cli => Binary("StoragePool.Cli", "storagepool");

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string Binary(string project, string name)
    {
        var path = Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", name);
        return System.IO.File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built; run dotnet build first", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "StoragePool.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("StoragePool.sln not found above " + AppContext.BaseDirectory);
    }
}
