namespace StoragePool.Nbd.Server;

/// <summary>
/// Bounds what one connection has in flight: at most a number of requests and (unless it is the only one)
/// a number of buffered bytes. One reader enters, any thread exits; entering waits only when the window is full.
/// </summary>
internal sealed class InFlightWindow
{
    private readonly Lock _lock = new();
    private readonly int _maxRequests;
    private readonly long _maxBytes;
    private int _requests;
    private long _bytes;
    private TaskCompletionSource? _waiter;
    private long _waiterBytes;
    private TaskCompletionSource? _emptyWaiter;

    public InFlightWindow(int maxRequests, long maxBytes)
    {
        _maxRequests = maxRequests;
        _maxBytes = maxBytes;
    }

    public int Requests
    {
        get
        {
            lock (_lock)
            {
                return _requests;
            }
        }
    }

    /// <summary>Takes a place for one request holding <paramref name="bytes"/>; waits while the window is full.</summary>
    public ValueTask EnterAsync(long bytes, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_lock)
        {
            if (_waiter is not null)
            {
                throw new InvalidOperationException("only one request may wait to enter the window");
            }
            if (CanEnter(bytes))
            {
                _requests++;
                _bytes += bytes;
                return ValueTask.CompletedTask;
            }
            waiter = _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiterBytes = bytes;
        }
        return WaitAsync(waiter, bytes, cancellationToken);
    }

    public void Exit(long bytes)
    {
        TaskCompletionSource? admitted = null;
        TaskCompletionSource? empty = null;
        lock (_lock)
        {
            _requests--;
            _bytes -= bytes;
            if (_waiter is not null && CanEnter(_waiterBytes))
            {
                _requests++;
                _bytes += _waiterBytes;
                admitted = _waiter;
                _waiter = null;
            }
            if (_requests == 0)
            {
                empty = _emptyWaiter;
                _emptyWaiter = null;
            }
        }
        admitted?.TrySetResult();
        empty?.TrySetResult();
    }

    /// <summary>Completes when nothing is in flight.</summary>
    public Task WhenEmptyAsync()
    {
        lock (_lock)
        {
            if (_requests == 0)
            {
                return Task.CompletedTask;
            }
            _emptyWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _emptyWaiter.Task;
        }
    }

    private bool CanEnter(long bytes) => _requests < _maxRequests && (_requests == 0 || _bytes + bytes <= _maxBytes);

    private async ValueTask WaitAsync(TaskCompletionSource waiter, long bytes, CancellationToken cancellationToken)
    {
        try
        {
            await waiter.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            bool admitted;
            lock (_lock)
            {
                admitted = !ReferenceEquals(_waiter, waiter);
                if (!admitted)
                {
                    _waiter = null;
                }
            }
            if (admitted)
            {
                // Exit admitted us as we gave up: give the place back
                Exit(bytes);
            }
            throw;
        }
    }
}
