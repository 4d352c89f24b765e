using System.Runtime.InteropServices;
using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary><c>virStoragePoolEventLifecycleType</c>. libvirt has no volume events.</summary>
public enum PoolLifecycleEvent
{
    Defined = 0,
    Undefined = 1,
    Started = 2,
    Stopped = 3,

    /// <summary>The pool was built (<c>virsh pool-build</c>).</summary>
    Created = 4,

    /// <summary>The pool's storage was deleted (<c>virsh pool-delete</c>).</summary>
    Deleted = 5,
}

/// <summary>
/// libvirt's default (poll-based) event loop, run on a dedicated background thread. libvirt delivers event
/// callbacks only from this loop, so the handlers given to <see cref="SubscribePoolLifecycle"/> run on
/// that thread: keep them short and never call <see cref="Dispose"/> and wait for it there.
/// <para>
/// The event implementation is process-wide: it is registered once (libvirt cannot unregister it) and at
/// most one loop runs at a time. Start the loop, or call <see cref="RegisterDefaultImplementation"/>, before
/// <see cref="LibvirtConnection.Open"/> of a connection that wants events: libvirt's remote driver wires
/// its socket into the event loop only at open.
/// </para>
/// </summary>
public sealed unsafe class LibvirtEventLoop : IDisposable
{
    private static readonly Lock RegistrationLock = new();
    private static bool _defaultImplRegistered;
    private static LibvirtEventLoop? _running;

    private readonly Thread _thread;
    private readonly int _timer;
    private readonly Action<Exception>? _onError;
    private volatile bool _stopping;
    private int _stopRequested;

    private LibvirtEventLoop(int timer, Action<Exception>? onError)
    {
        _timer = timer;
        _onError = onError;
        _thread = new Thread(Run) { IsBackground = true, Name = "libvirt events" };
    }

    /// <summary>How long <see cref="Dispose"/> waits for the loop thread to end.</summary>
    public static TimeSpan StopTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>True once <see cref="RegisterDefaultImplementation"/> ran in this process.</summary>
    public static bool IsDefaultImplementationRegistered
    {
        get
        {
            lock (RegistrationLock)
            {
                return _defaultImplRegistered;
            }
        }
    }

    /// <summary>The loop thread is alive.</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>Registers libvirt's default event implementation for this process; later calls do nothing.</summary>
    public static void RegisterDefaultImplementation()
    {
        LibvirtCalls.EnsureQuiet();
        lock (RegistrationLock)
        {
            if (!_defaultImplRegistered)
            {
                LibvirtCalls.Check(Native.EventRegisterDefaultImpl(), "registering libvirt's event loop");
                _defaultImplRegistered = true;
            }
        }
    }

    /// <summary>
    /// Registers the default event implementation if needed and starts the loop thread. The loop wakes at
    /// least every <paramref name="wakeInterval"/> (default 500 ms) to notice a stop. Exceptions thrown by
    /// event handlers, and a failure of the loop itself (which ends it), go to <paramref name="onError"/>;
    /// without one they are dropped.
    /// </summary>
    public static LibvirtEventLoop Start(TimeSpan? wakeInterval = null, Action<Exception>? onError = null)
    {
        var intervalMs = (int)(wakeInterval ?? TimeSpan.FromMilliseconds(500)).TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(intervalMs, 1, nameof(wakeInterval));
        RegisterDefaultImplementation();
        lock (RegistrationLock)
        {
            if (_running is not null)
            {
                throw new InvalidOperationException(
                    "a libvirt event loop is already running in this process; use that one or dispose it first");
            }
            var timer = Native.EventAddTimeout(intervalMs, &OnWake, 0, null);
            if (timer < 0)
            {
                throw LibvirtCalls.LastError("adding the libvirt event loop's wake-up timer");
            }
            var loop = new LibvirtEventLoop(timer, onError);
            _running = loop;
            loop._thread.Start();
            return loop;
        }
    }

    /// <summary>
    /// Calls <paramref name="handler"/> with the pool's name and the event for every lifecycle change of any
    /// pool on <paramref name="connection"/> (defined, started, stopped, undefined, built, deleted), on the
    /// loop thread. Dispose the result to stop; it keeps the connection open until then.
    /// </summary>
    public IDisposable SubscribePoolLifecycle(LibvirtConnection connection, Action<string, PoolLifecycleEvent> handler)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (!connection.EventsRegistered)
        {
            throw new InvalidOperationException(
                "this libvirt connection was opened before libvirt's event loop was registered, so it cannot deliver " +
                "events; start LibvirtEventLoop before LibvirtConnection.Open");
        }
        return new PoolLifecycleSubscription(connection, handler, _onError);
    }

    /// <summary>
    /// Stops the loop and waits at most <paramref name="timeout"/> for its thread to end. False when it is
    /// still running then: an event handler is blocking it, and it ends once that handler returns.
    /// </summary>
    public bool Stop(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 0)
        {
            _stopping = true;
            // A zero frequency fires the timer on the next iteration, and updating it from another thread
            // interrupts the poll the loop sleeps in: the loop sees _stopping at once.
            Native.EventUpdateTimeout(_timer, 0);
        }
        return Thread.CurrentThread == _thread || _thread.Join(timeout);
    }

    /// <summary>Stops the loop and waits (at most <see cref="StopTimeout"/>) for its thread to end.</summary>
    public void Dispose() => Stop(StopTimeout);

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                if (Native.EventRunDefaultImpl() < 0)
                {
                    var error = LibvirtCalls.LastError("running libvirt's event loop");
                    _onError?.Invoke(error);
                    break;
                }
            }
        }
        finally
        {
            _ = Native.EventRemoveTimeout(_timer);
            lock (RegistrationLock)
            {
                if (_running == this)
                {
                    _running = null;
                }
            }
        }
    }

    [UnmanagedCallersOnly]
    private static void OnWake(int timer, nint opaque)
    {
    }

    /// <summary>One registration of <c>virConnectStoragePoolEventRegisterAny</c>; libvirt holds a GCHandle to it.</summary>
    private sealed class PoolLifecycleSubscription : IDisposable
    {
        private readonly Action<string, PoolLifecycleEvent> _handler;
        private readonly Action<Exception>? _onError;
        private readonly Native.ConnectHandle _connection;
        private readonly int _callbackId;
        private int _disposed;

        internal PoolLifecycleSubscription(LibvirtConnection connection, Action<string, PoolLifecycleEvent> handler,
            Action<Exception>? onError)
        {
            _handler = handler;
            _onError = onError;
            _connection = connection.Handle;
            var added = false;
            // Held until Dispose: deregistering needs libvirt's connection, even if its owner disposed it.
            _connection.DangerousAddRef(ref added);
            // Freed by libvirt's free callback once the registration is gone, or below if it never happens.
            var self = GCHandle.Alloc(this);
            _callbackId = Native.ConnectStoragePoolEventRegisterAny(_connection, 0, Native.StoragePoolEventIdLifecycle,
                &OnLifecycle, GCHandle.ToIntPtr(self), &OnFree);
            if (_callbackId < 0)
            {
                var error = LibvirtCalls.LastError("subscribing to storage pool events");
                self.Free();
                _connection.DangerousRelease();
                throw error;
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            // The only failure is an unknown callback id, which cannot happen here.
            _ = Native.ConnectStoragePoolEventDeregisterAny(_connection.DangerousGetHandle(), _callbackId);
            _connection.DangerousRelease();
        }

        [UnmanagedCallersOnly]
        private static void OnLifecycle(nint connection, nint pool, int evt, int detail, nint opaque)
        {
            if (GCHandle.FromIntPtr(opaque).Target is not PoolLifecycleSubscription subscription)
            {
                return;
            }
            try
            {
                var name = Marshal.PtrToStringUTF8((nint)Native.StoragePoolGetName(pool)) ?? "";
                subscription._handler(name, (PoolLifecycleEvent)evt);
            }
            catch (Exception ex)
            {
                // Nothing may unwind into libvirt's C frames.
                try
                {
                    subscription._onError?.Invoke(ex);
                }
                catch (Exception)
                {
                    // The error handler failed too: drop it rather than take the process down.
                }
            }
        }

        [UnmanagedCallersOnly]
        private static void OnFree(nint opaque) => GCHandle.FromIntPtr(opaque).Free();
    }
}
