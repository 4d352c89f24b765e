using System.Buffers;
using Native = StoragePool.Interop.Interop.Libvirt;

namespace StoragePool.Libvirt;

/// <summary><c>virStorageVolType</c>.</summary>
public enum VolumeType
{
    File = 0,
    Block = 1,
    Directory = 2,
    Network = 3,
    NetworkDirectory = 4,
    Ploop = 5,
}

/// <summary>What <c>virsh vol-info</c> shows: type and sizes in bytes.</summary>
public readonly record struct LibvirtVolumeInfo(VolumeType Type, long Capacity, long Allocation);

/// <summary><c>virStorageVolResizeFlags</c>.</summary>
[Flags]
public enum VolumeResizeOptions
{
    None = 0,

    /// <summary>Allocate the new space now instead of leaving it sparse.</summary>
    Allocate = 1 << 0,

    /// <summary>The capacity given is added to the current one.</summary>
    Delta = 1 << 1,

    /// <summary>Allow the capacity to decrease (data beyond it is lost).</summary>
    Shrink = 1 << 2,
}

/// <summary>
/// A libvirt storage volume. Methods block for the length of libvirt's call; <see cref="Upload"/> and
/// <see cref="Download"/> block until every byte has passed. See <see cref="LibvirtConnection"/>.
/// </summary>
public sealed unsafe class LibvirtVolume : IDisposable
{
    private const int StreamBufferSize = 256 * 1024;
    private readonly Native.StorageVolHandle _handle;

    internal LibvirtVolume(Native.StorageVolHandle handle)
    {
        _handle = handle;
        // Read once: error messages must not call libvirt (that would reset the error they report).
        Name = LibvirtCalls.Borrowed(Native.StorageVolGetName(handle), "reading a volume's name");
    }

    public string Name { get; }

    /// <summary>The volume's path on the host (for a dir pool: the file).</summary>
    public string Path => LibvirtCalls.Check(Native.StorageVolGetPath(_handle), $"reading the path of volume '{Name}'");

    public LibvirtVolumeInfo GetInfo()
    {
        LibvirtCalls.Check(Native.StorageVolGetInfo(_handle, out var info), $"reading volume '{Name}'");
        return new LibvirtVolumeInfo((VolumeType)info.Type, (long)info.Capacity, (long)info.Allocation);
    }

    /// <summary>Deletes the volume and its data: <c>virsh vol-delete</c>.</summary>
    public void Delete() => LibvirtCalls.Check(Native.StorageVolDelete(_handle, 0), $"deleting volume '{Name}'");

    /// <summary>Changes the capacity; shrinking needs <see cref="VolumeResizeOptions.Shrink"/>.</summary>
    public void Resize(long capacity, VolumeResizeOptions options = VolumeResizeOptions.None)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        LibvirtCalls.Check(Native.StorageVolResize(_handle, (ulong)capacity, (uint)options),
            $"resizing volume '{Name}' to {capacity} bytes");
    }

    /// <summary>
    /// Writes everything <paramref name="source"/> yields into the volume from <paramref name="offset"/> on,
    /// through a libvirt stream (<c>virsh vol-upload</c>). <paramref name="length"/> caps the bytes libvirt
    /// accepts (0: up to the volume's end); more data than that fails the upload.
    /// </summary>
    public void Upload(Stream source, long offset = 0, long length = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var operation = $"uploading into volume '{Name}'";
        using var stream = NewStream(operation);
        LibvirtCalls.Check(Native.StorageVolUpload(_handle, stream, (ulong)offset, (ulong)length, 0), operation);
        var buffer = ArrayPool<byte>.Shared.Rent(StreamBufferSize);
        try
        {
            int read;
            while ((read = source.Read(buffer, 0, StreamBufferSize)) > 0)
            {
                fixed (byte* data = buffer)
                {
                    for (var sent = 0; sent < read;)
                    {
                        sent += LibvirtCalls.Check(Native.StreamSend(stream, data + sent, (nuint)(read - sent)), operation);
                    }
                }
            }
            LibvirtCalls.Check(Native.StreamFinish(stream), operation);
        }
        catch
        {
            // The exception already holds libvirt's error; aborting resets it.
            _ = Native.StreamAbort(stream);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Copies the volume's bytes from <paramref name="offset"/> on into <paramref name="destination"/> through a
    /// libvirt stream (<c>virsh vol-download</c>); <paramref name="length"/> 0 reads to the volume's end.
    /// Returns the number of bytes copied.
    /// </summary>
    public long Download(Stream destination, long offset = 0, long length = 0)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var operation = $"downloading volume '{Name}'";
        using var stream = NewStream(operation);
        LibvirtCalls.Check(Native.StorageVolDownload(_handle, stream, (ulong)offset, (ulong)length, 0), operation);
        var buffer = ArrayPool<byte>.Shared.Rent(StreamBufferSize);
        long total = 0;
        try
        {
            while (true)
            {
                int received;
                fixed (byte* data = buffer)
                {
                    received = LibvirtCalls.Check(Native.StreamRecv(stream, data, StreamBufferSize), operation);
                }
                if (received == 0)
                {
                    break;
                }
                destination.Write(buffer, 0, received);
                total += received;
            }
            LibvirtCalls.Check(Native.StreamFinish(stream), operation);
            return total;
        }
        catch
        {
            _ = Native.StreamAbort(stream);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Native.StreamHandle NewStream(string operation)
    {
        // The volume's own connection, borrowed: the volume object holds a reference to it.
        var connection = Native.StorageVolGetConnect(_handle);
        if (connection == 0)
        {
            throw LibvirtCalls.LastError(operation);
        }
        return LibvirtCalls.Check(Native.StreamNew(connection, 0), operation);
    }

    public void Dispose() => _handle.Dispose();
}
