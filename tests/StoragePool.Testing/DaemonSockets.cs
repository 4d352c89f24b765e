namespace StoragePool.Testing;

/// <summary>
/// How a test process runs its sockets. storagepoold runs socket continuations inline on the sockets' event threads
/// (Daemon/Program.cs); <c>tests/daemon-sockets.runsettings</c> does the same for a test project, with one event
/// thread, so that anything that blocks it holds up every connection at once and shows.
/// </summary>
public static class DaemonSockets
{
    /// <summary>Whether this process runs socket continuations inline on a single event thread.</summary>
    public static bool InlineOnOneThread =>
        Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1" &&
        Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT") == "1";
}
