using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using StoragePool.Storage.IO;

namespace StoragePool.Nbd.Server;

/// <summary>
/// Sends some bytes and then a <see cref="FileRange"/> on a plain socket, the range by sendfile(2): the kernel hands
/// the page cache's pages to the socket, and the bytes are never copied into a buffer and out again. One send at a
/// time; reused for every send of its connection.
/// </summary>
internal sealed class FileSender : SocketAsyncEventArgs, IValueTaskSource
{
    private readonly Socket _socket;
    private readonly SendPacketsElement[] _elements = new SendPacketsElement[2];
    private ManualResetValueTaskSourceCore<bool> _done;
    private long _expected;

    public FileSender(Socket socket) : base(unsafeSuppressExecutionContextFlow: true)
    {
        _socket = socket;
    }

    /// <summary>Sends <paramref name="head"/>, then the range's bytes.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> head, FileRange range)
    {
        _done.Reset();
        _elements[0] = new SendPacketsElement(head);
        _elements[1] = new SendPacketsElement(range.File, range.Offset, range.Length, endOfPacket: true);
        _expected = head.Length + (long)range.Length;
        SendPacketsElements = _elements;
        if (!_socket.SendPacketsAsync(this))
        {
            OnCompleted(this);
        }
        return new ValueTask(this, _done.Version);
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        // let go of the file and the batch until the next send
        _elements[0] = _elements[1] = null!;
        if (SocketError != SocketError.Success)
        {
            _done.SetException(new SocketException((int)SocketError));
        }
        else if (BytesTransferred != _expected)
        {
            _done.SetException(new IOException($"sent {BytesTransferred} of {_expected} bytes (the volume's file is shorter than the range)"));
        }
        else
        {
            _done.SetResult(true);
        }
    }

    void IValueTaskSource.GetResult(short token) => _done.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _done.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);
}
