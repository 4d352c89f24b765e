using System.Diagnostics.CodeAnalysis;
using StoragePool.Cluster.Tests.Metadata;

/// <summary>
/// Makes this test assembly a crash-test writer when started by <see cref="SqliteMetadataStoreCrashTests"/>
/// (<c>dotnet exec</c> with DOTNET_STARTUP_HOOKS naming this assembly); does nothing otherwise.
/// </summary>
[SuppressMessage("Design", "CA1050:Declare types in namespaces", Justification = "The runtime looks for StartupHook in the global namespace.")]
internal static class StartupHook
{
    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(SqliteMetadataStoreCrashTests.DatabaseVariable) is { } path)
        {
            // A startup hook is synchronous; the process writes until it is killed and never reaches Main.
            SqliteMetadataStoreCrashTests.WriteUntilKilledAsync(path).GetAwaiter().GetResult();
            Environment.Exit(0);
        }
    }
}
