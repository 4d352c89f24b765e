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
