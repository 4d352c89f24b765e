using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using StoragePool.Core.Errors;
using Libc = StoragePool.Interop.Interop.Libc;
using SdBus = StoragePool.Interop.Interop.SdBus;

namespace StoragePool.Daemon.DBus;

/// <summary>A method call as it arrives; valid only while <see cref="BusConnection"/>'s callback runs.</summary>
internal sealed class IncomingCall
{
    private nint _message;

    public IncomingCall(nint message)
    {
        _message = message;
        Path = BorrowedMessage.Path(message) ?? string.Empty;
        Interface = BorrowedMessage.Interface(message);
        Member = BorrowedMessage.Member(message) ?? string.Empty;
        Sender = BorrowedMessage.Sender(message);
        Signature = BorrowedMessage.Signature(message);
    }

    public string Path { get; }

    public string? Interface { get; }

    public string Member { get; }

    public string? Sender { get; }

    public string Signature { get; }

    /// <summary>Reads the arguments; the caller has checked that <see cref="Signature"/> is <paramref name="signature"/>.</summary>
    public MessageArguments Read(string signature) =>
        _message == 0 ? throw new InvalidOperationException("the call's message is gone") : MessageArguments.Read(_message, signature);

    public void Invalidate() => _message = 0;
}

/// <summary>What to do with a call: answer now, or run <see cref="Run"/> off the bus thread (after checking the caller is root when <see cref="RootOnly"/>).</summary>
internal sealed record BusCall(Reply? Immediate, Func<CancellationToken, Task<Reply>>? Run, bool RootOnly)
{
    public static BusCall Now(Reply reply) => new(reply, null, false);

    public static BusCall Later(Func<CancellationToken, Task<Reply>> run, bool rootOnly = false) => new(null, run, rootOnly);
}

/// <summary>
/// The connection to the system bus and the one thread that uses it. sd-bus is not thread-safe, so
/// every sd-bus call, every message and every reference to them lives on that thread: other threads
/// hand it work through <see cref="Post"/>, which wakes its poll loop through an eventfd. Method calls
/// under <see cref="ObjectPaths.Root"/> go to the dispatcher; work it returns runs on the thread pool
/// and its reply comes back through the queue.
/// </summary>
internal sealed class BusConnection : IDisposable
{
    public const string BusName = "org.storagepool.StoragePool1";

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);

    private readonly Func<IncomingCall, BusCall?> _dispatch;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<(Action Run, Action? Abandon)> _queue = new();
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource<string?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<PendingCall> _awaitingCaller = [];
    private SafeFileHandle? _wake;
    private SdBus.BusHandle? _bus;
    private SdBus.SlotHandle? _slot;
    private GCHandle _self;
    private bool _closed;
    private bool _serving;
    private int _inFlight;

    public BusConnection(Func<IncomingCall, BusCall?> dispatch, ILogger logger)
    {
        _dispatch = dispatch;
        _logger = logger;
    }

    /// <summary>Ends when the bus thread has closed the connection.</summary>
    public Task Completion => _finished.Task;

    /// <summary>Connects and takes the bus name on a new thread. Null when serving, else why not (a sentence fragment).</summary>
    public Task<string?> StartAsync()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "dbus" };
        thread.Start();
        return _started.Task;
    }

    /// <summary>Answers the calls in flight (waiting a few seconds at most), then closes the connection; see <see cref="Completion"/>.</summary>
    public void Stop()
    {
        _stopping.Cancel();
        lock (_gate)
        {
            if (!_closed)
            {
                Wake();
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="run"/> on the bus thread. Once the connection is closed, calls
    /// <paramref name="abandon"/> here instead, and returns false.
    /// </summary>
    public bool Post(Action run, Action? abandon = null)
    {
        lock (_gate)
        {
            if (!_closed)
            {
                _queue.Enqueue((run, abandon));
                Wake();
                return true;
            }
        }
        abandon?.Invoke();
        return false;
    }

    /// <summary>Queues a signal from <paramref name="path"/>.</summary>
    public void EmitSignal(string path, string @interface, string member, Action<MessageWriter> body) =>
        Post(() =>
        {
            try
            {
                DBusException.Check(SdBus.MessageNewSignal(_bus!, out var signal, path, @interface, member), "sd_bus_message_new_signal");
                using (signal)
                {
                    body(new MessageWriter(signal));
                    DBusException.Check(SdBus.Send(_bus!, signal, 0), "sd_bus_send");
                }
            }
            catch (DBusException e)
            {
                _logger.SendFailed(member, e);
            }
        });

    /// <summary>
    /// Stops the connection. The cancellation source stays for the calls still finishing on the thread
    /// pool, and the bus thread closes the eventfd and the bus itself.
    /// </summary>
    public void Dispose() => Stop();

    /// <summary>Wakes the bus thread's poll. Callers hold <see cref="_gate"/> and have seen the connection open.</summary>
    private void Wake()
    {
        if (_wake is { } wake)
        {
            Libc.EventFdWrite(wake, 1);
        }
    }

    // ---------------------------------------------------------------- the bus thread

    private void Run()
    {
        try
        {
            var problem = Open();
            _started.TrySetResult(problem);
            if (problem is null)
            {
                Loop();
            }
        }
        catch (Exception e)
        {
            _logger.BusThreadFailed(e);
            _started.TrySetResult(e.Message);
        }
        finally
        {
            Close();
            _finished.TrySetResult();
        }
    }

    private unsafe string? Open()
    {
        var fd = Libc.EventFd(0, Libc.EventFdCloseOnExec | Libc.EventFdNonBlocking);
        if (fd < 0)
        {
            return $"eventfd failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
        }
        lock (_gate)
        {
            _wake = new SafeFileHandle(fd, ownsHandle: true);
        }

        var address = Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") ?? "unix:path=/run/dbus/system_bus_socket";
        var r = SdBus.OpenSystem(out var bus);
        if (r < 0)
        {
            bus.Dispose();
            return $"cannot connect to the system bus at {address} ({Marshal.GetPInvokeErrorMessage(-r)})";
        }
        _bus = bus;

        r = SdBus.RequestName(bus, BusName, 0);
        if (r < 0)
        {
            return -r switch
            {
                17 => $"the name {BusName} is owned by another process on {address} (is another storagepoold running?)",
                13 => $"the bus at {address} does not let this user own {BusName} " +
                      "(install packaging/dbus/org.storagepool.StoragePool1.conf in /usr/share/dbus-1/system.d/ and run as root)",
                _ => $"cannot own {BusName} on {address} ({Marshal.GetPInvokeErrorMessage(-r)})",
            };
        }

        _self = GCHandle.Alloc(this);
        r = SdBus.AddFallback(bus, out var slot, ObjectPaths.Root, &OnMethodCall, GCHandle.ToIntPtr(_self));
        _slot = slot;
        if (r < 0)
        {
            return $"cannot register {ObjectPaths.Root} ({Marshal.GetPInvokeErrorMessage(-r)})";
        }

        SdBus.GetUniqueName(bus, out var unique);
        var uniqueName = Marshal.PtrToStringUTF8((nint)unique) ?? "?";
        _logger.Serving(BusName, address, uniqueName);
        _serving = true;
        return null;
    }

    private void Loop()
    {
        var bus = _bus!;
        long? stopDeadline = null;
        while (true)
        {
            Drain();
            if (_stopping.IsCancellationRequested)
            {
                stopDeadline ??= Stopwatch.GetTimestamp() + (long)(StopGrace.TotalSeconds * Stopwatch.Frequency);
                if (Volatile.Read(ref _inFlight) == 0 || Stopwatch.GetTimestamp() > stopDeadline)
                {
                    return;
                }
            }

            var r = SdBus.Process(bus, 0);
            if (r < 0)
            {
                _logger.ConnectionLost(Marshal.GetPInvokeErrorMessage(-r));
                return;
            }
            if (r > 0)
            {
                continue;
            }
            Wait(bus, stopDeadline is null ? -1 : 100);
        }
    }

    private unsafe void Wait(SdBus.BusHandle bus, int maxTimeoutMs)
    {
        var timeout = maxTimeoutMs;
        if (SdBus.GetTimeout(bus, out var deadlineUsec) >= 0 && deadlineUsec != SdBus.NoTimeout)
        {
            // sd-bus deadlines are CLOCK_MONOTONIC, which is what Stopwatch reads on Linux.
            var nowUsec = (ulong)(Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000.0));
            var ms = deadlineUsec <= nowUsec ? 0 : (int)Math.Min((deadlineUsec - nowUsec + 999) / 1000, int.MaxValue);
            timeout = timeout < 0 ? ms : Math.Min(timeout, ms);
        }

        var fds = stackalloc Libc.PollFd[2];
        fds[0] = new Libc.PollFd { Fd = SdBus.GetFd(bus), Events = (short)SdBus.GetEvents(bus) };
        fds[1] = new Libc.PollFd { Fd = (int)_wake!.DangerousGetHandle(), Events = Libc.PollEvents.In };
        if (Libc.Poll(fds, 2, timeout) > 0 && (fds[1].REvents & Libc.PollEvents.In) != 0)
        {
            Libc.EventFdRead(_wake, out _);
        }
    }

    private void Drain()
    {
        while (_queue.TryDequeue(out var item))
        {
            try
            {
                item.Run();
            }
            catch (Exception e)
            {
                _logger.BusThreadFailed(e);
            }
        }
    }

    private void Close()
    {
        lock (_gate)
        {
            _closed = true;
        }
        if (_bus is not null)
        {
            // Send what is queued first: processing may still answer a caller check (whose work,
            // started now, finds the connection closed), so the pinned calls are released after it.
            Drain();
            FlushBounded(_bus);
            foreach (var pending in _awaitingCaller)
            {
                pending.Release();
            }
            _awaitingCaller.Clear();
        }
        _slot?.Dispose();
        _bus?.Dispose();
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _wake?.Dispose();
        if (_serving)
        {
            _logger.Stopped();
        }
    }

    /// <summary>Writes what is queued (replies, signals), giving up after a second.</summary>
    private void FlushBounded(SdBus.BusHandle bus)
    {
        for (var i = 0; i < 10 && (SdBus.GetEvents(bus) & Libc.PollEvents.Out) != 0; i++)
        {
            if (SdBus.Process(bus, 0) < 0)
            {
                return;
            }
            Wait(bus, 100);
        }
    }

    // ---------------------------------------------------------------- calls

    [UnmanagedCallersOnly]
    private static int OnMethodCall(nint message, nint userdata, nint retError)
    {
        try
        {
            return GCHandle.FromIntPtr(userdata).Target is BusConnection connection ? connection.HandleCall(message) : 0;
        }
        catch
        {
            // Never let an exception cross into C; HandleCall logs its own.
            return 0;
        }
    }

    private int HandleCall(nint message)
    {
        var call = new IncomingCall(message);
        _logger.CallReceived(call.Interface ?? "?", call.Member, call.Path, call.Sender ?? "?");
        BusCall? plan;
        try
        {
            plan = _dispatch(call);
        }
        catch (DBusException e)
        {
            plan = BusCall.Now(Reply.Error(StandardInterfaces.ErrorInvalidArgs, $"cannot read the arguments of {call.Member}: {e.Message}"));
        }
        catch (Exception e)
        {
            _logger.MethodFailed(call.Interface ?? "?", call.Member, call.Path, e);
            plan = BusCall.Now(Reply.Error(ErrorCode.Internal.DBusName(), $"internal error in {call.Member}: {e.Message}"));
        }
        finally
        {
            call.Invalidate();
        }
        if (plan is null)
        {
            return 0; // not ours: sd-bus answers UnknownMethod
        }

        var pending = new PendingCall(this, SdBus.MessageHandle.AddRef(message), call);
        if (plan.Immediate is { } reply)
        {
            pending.Complete(reply);
        }
        else if (plan.RootOnly)
        {
            CheckCallerThenStart(pending, plan.Run!);
        }
        else
        {
            Start(pending, plan.Run!);
        }
        return 1;
    }

    private void Start(PendingCall pending, Func<CancellationToken, Task<Reply>> run)
    {
        Interlocked.Increment(ref _inFlight);
        _ = RunAsync();

        async Task RunAsync()
        {
            Reply reply;
            try
            {
                reply = await Task.Run(() => run(_stopping.Token));
            }
            catch (StoragePoolException e)
            {
                reply = Reply.Error(e.Code.DBusName(), e.Message);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                reply = Reply.Error(ErrorCode.DaemonUnavailable.DBusName(), "storagepoold is stopping; try again when it is back");
            }
            catch (Exception e)
            {
                _logger.MethodFailed(pending.Interface, pending.Member, pending.Path, e);
                reply = Reply.Error(ErrorCode.Internal.DBusName(), $"internal error in {pending.Member}: {e.Message}");
            }
            try
            {
                Post(() => pending.Complete(reply), pending.Abandon);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    /// <summary>Asks the bus (asynchronously) for the uid of the caller and starts the call only for root.</summary>
    private unsafe void CheckCallerThenStart(PendingCall pending, Func<CancellationToken, Task<Reply>> run)
    {
        if (pending.Sender is null)
        {
            pending.Complete(Reply.Error(ErrorCode.PermissionDenied.DBusName(), $"{pending.Member} needs a caller on the bus that can be identified as root"));
            return;
        }
        pending.AfterCallerCheck = run;
        try
        {
            DBusException.Check(SdBus.MessageNewMethodCall(_bus!, out var query, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                "org.freedesktop.DBus", "GetConnectionUnixUser"), "sd_bus_message_new_method_call");
            using (query)
            {
                new MessageWriter(query).String(pending.Sender);
                pending.Pin();
                var r = SdBus.CallAsync(_bus!, 0, query, &OnCallerUid, pending.PinnedAddress, 0);
                if (r < 0)
                {
                    pending.Unpin();
                    DBusException.Check(r, "sd_bus_call_async");
                }
            }
            _awaitingCaller.Add(pending);
        }
        catch (DBusException e)
        {
            pending.Complete(Reply.Error(ErrorCode.PermissionDenied.DBusName(), $"cannot tell who called {pending.Member}: {e.Message}"));
        }
    }

    [UnmanagedCallersOnly]
    private static unsafe int OnCallerUid(nint reply, nint userdata, nint retError)
    {
        try
        {
            if (GCHandle.FromIntPtr(userdata).Target is PendingCall pending)
            {
                pending.Unpin();
                pending.Connection.CallerKnown(pending, reply);
            }
        }
        catch
        {
            // Never let an exception cross into C.
        }
        return 1;
    }

    private unsafe void CallerKnown(PendingCall pending, nint reply)
    {
        if (!_awaitingCaller.Remove(pending))
        {
            return;
        }
        try
        {
            if (BorrowedMessage.Error(reply) is { } error)
            {
                pending.Complete(Reply.Error(ErrorCode.PermissionDenied.DBusName(),
                    $"cannot tell who called {pending.Member}: {error.Message} ({error.Name})"));
                return;
            }
            var uid = MessageArguments.Read(reply, "u").UInt32(0);
            if (uid == 0)
            {
                Start(pending, pending.AfterCallerCheck!);
                return;
            }
            _logger.CallerRefused(pending.Interface, pending.Member, pending.Path, uid, pending.Sender ?? "?");
            pending.Complete(Reply.Error(ErrorCode.PermissionDenied.DBusName(),
                $"{pending.Member} changes the storage pool and only root may call it; uid {uid} may only read " +
                "(properties, Introspect, GetStatus and the List methods)"));
        }
        catch (DBusException e)
        {
            pending.Complete(Reply.Error(ErrorCode.PermissionDenied.DBusName(), $"cannot tell who called {pending.Member}: {e.Message}"));
        }
    }

    private void SendReply(SdBus.MessageHandle call, Reply reply, string member)
    {
        try
        {
            if (reply.ErrorName is not null)
            {
                SendError(call, reply.ErrorName, reply.ErrorMessage ?? reply.ErrorName);
                return;
            }
            DBusException.Check(SdBus.MessageNewMethodReturn(call, out var answer), "sd_bus_message_new_method_return");
            using (answer)
            {
                reply.Body?.Invoke(new MessageWriter(answer));
                DBusException.Check(SdBus.Send(_bus!, answer, 0), "sd_bus_send");
            }
        }
        catch (DBusException e)
        {
            _logger.SendFailed(member, e);
            try
            {
                SendError(call, ErrorCode.Internal.DBusName(), $"internal error: cannot write the reply of {member}: {e.Message}");
            }
            catch (DBusException)
            {
                // Nothing more to say to this caller.
            }
        }
    }

    private static void SendError(SdBus.MessageHandle call, string name, string message)
    {
        var namePtr = Marshal.StringToCoTaskMemUTF8(name);
        var messagePtr = Marshal.StringToCoTaskMemUTF8(message.Replace('\0', ' '));
        try
        {
            var error = new SdBus.BusError { Name = namePtr, Message = messagePtr };
            DBusException.Check(SdBus.ReplyMethodError(call, in error), "sd_bus_reply_method_error");
        }
        finally
        {
            Marshal.FreeCoTaskMem(namePtr);
            Marshal.FreeCoTaskMem(messagePtr);
        }
    }

    /// <summary>A call being answered later: holds a reference to its message until the reply is sent.</summary>
    private sealed class PendingCall
    {
        private readonly SdBus.MessageHandle _message;
        private GCHandle _pin;

        public PendingCall(BusConnection connection, SdBus.MessageHandle message, IncomingCall call)
        {
            Connection = connection;
            _message = message;
            Path = call.Path;
            Interface = call.Interface ?? "?";
            Member = call.Member;
            Sender = call.Sender;
        }

        public BusConnection Connection { get; }

        public string Path { get; }

        public string Interface { get; }

        public string Member { get; }

        public string? Sender { get; }

        public Func<CancellationToken, Task<Reply>>? AfterCallerCheck { get; set; }

        public nint PinnedAddress => GCHandle.ToIntPtr(_pin);

        public void Pin() => _pin = GCHandle.Alloc(this);

        public void Unpin()
        {
            if (_pin.IsAllocated)
            {
                _pin.Free();
            }
        }

        /// <summary>Sends the reply and drops the message. Bus thread only.</summary>
        public void Complete(Reply reply)
        {
            Connection.SendReply(_message, reply, Member);
            _message.Dispose();
        }

        /// <summary>Drops the message without a reply. Bus thread only.</summary>
        public void Release()
        {
            Unpin();
            _message.Dispose();
        }

        /// <summary>The bus is gone: forget the message without touching sd-bus (whose thread has ended).</summary>
        public void Abandon() => _message.SetHandleAsInvalid();
    }
}
