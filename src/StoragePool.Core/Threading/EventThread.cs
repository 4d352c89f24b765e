using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace StoragePool.Core.Threading;

/// <summary>
/// storagepoold runs socket continuations inline, on the socket's event thread (Daemon/Program.cs), which serves
/// every connection of its engine, NBD clients included. Code that goes on to block (a disk read or write) leaves it
/// first.
/// </summary>
public static class EventThread
{
    /// <summary>
    /// Continues on the thread pool: at once when already there, else after a hop. The awaiter decides at the await
    /// itself, so the awaiting method never goes on where it was: a hop inside another async method (awaiting
    /// <c>Task.Yield</c> there) can finish before the caller looks, and the caller then carries on synchronously.
    /// </summary>
    public static PoolAwaitable LeaveAsync() => default;

    /// <summary>
    /// The name the runtime gives its socket event threads (System.Net.Sockets' SocketAsyncEngine on Linux);
    /// <c>EventThreadTests</c> checks it against a real socket continuation, so a runtime that renames it fails a test.
    /// </summary>
    internal const string SocketEngineThreadName = ".NET Sockets";

    /// <summary>Whether this thread is a socket's event thread, where socket continuations run inline.</summary>
    public static bool IsCurrent =>
        !Thread.CurrentThread.IsThreadPoolThread && Thread.CurrentThread.Name == SocketEngineThreadName;

    /// <summary>
    /// Test builds only (DEBUG): throws when <paramref name="call"/>, which may block, is made on a socket's event
    /// thread. A block there holds up every connection the thread serves, which no test would notice otherwise.
    /// </summary>
    [Conditional("DEBUG")]
    public static void AssertNotOn(string call)
    {
        if (IsCurrent)
        {
            throw new InvalidOperationException(
                $"{call} may block, and was called on a socket's event thread, which serves every connection; leave it first (EventThread.LeaveAsync)");
        }
    }

    /// <summary>The awaitable (and its own awaiter) of <see cref="LeaveAsync"/>.</summary>
    public readonly struct PoolAwaitable : ICriticalNotifyCompletion
    {
        public PoolAwaitable GetAwaiter() => this;

        public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) =>
            ThreadPool.QueueUserWorkItem(static run => run(), continuation, preferLocal: false);

        public void UnsafeOnCompleted(Action continuation) =>
            ThreadPool.UnsafeQueueUserWorkItem(static run => run(), continuation, preferLocal: false);
    }
}
