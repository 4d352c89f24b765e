namespace StoragePool.Core.Threading;

/// <summary>
/// storagepoold runs socket continuations inline, on the socket's event thread (Daemon/Program.cs), which serves
/// every connection of its engine, NBD clients included. Code that goes on to block (a disk read or write) leaves it
/// first.
/// </summary>
public static class EventThread
{
    /// <summary>Continues on the thread pool: at once when already there, else after a hop.</summary>
    public static async ValueTask LeaveAsync()
    {
        if (!Thread.CurrentThread.IsThreadPoolThread)
        {
            await Task.Yield();
        }
    }
}
