namespace StoragePool.IntegrationTests.Harness;

/// <summary>Paths in this repository (found from the test binary's location).</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release, the same as the tests were built with.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string Daemon => Binary("StoragePool.Daemon", "storagepoold");

    /// <summary>The CLI as built, or as published (trimmed, one file) when <c>STORAGEPOOL_TEST_CLI</c> names it (scripts/test.sh).</summary>
    public static string Cli => Environment.GetEnvironmentVariable("STORAGEPOOL_TEST_CLI") is { Length: > 0 } published
        ? System.IO.File.Exists(published) ? published : throw new FileNotFoundException($"STORAGEPOOL_TEST_CLI names {published}, which does not exist", published)
        : Binary("StoragePool.Cli", "storagepool");

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
