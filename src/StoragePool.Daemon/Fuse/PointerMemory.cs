using System.Buffers;

namespace StoragePool.Daemon.Fuse;

/// <summary>
/// Memory over bytes that native code owns (a write request in libfuse's buffer), valid only until the request is
/// answered. One per request thread, pointed at each request in turn: no allocation per write.
/// </summary>
internal sealed unsafe class PointerMemory : MemoryManager<byte>
{
    private byte* _data;
    private int _length;

    public void Set(nint data, int length)
    {
        _data = (byte*)data;
        _length = length;
    }

    public override Span<byte> GetSpan() => new(_data, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_data + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
