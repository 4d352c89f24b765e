namespace StoragePool.Storage.Tests.Support;

/// <summary>Reads and writes a volume's file directly, as the I/O path does.</summary>
internal static class VolumeFile
{
    public const int BlockSize = 4096;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> and flushes it to disk.</summary>
    public static void Write(string path, long offset, byte[] data)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        RandomAccess.Write(handle, data, offset);
        RandomAccess.FlushToDisk(handle);
    }

    public static byte[] Read(string path, long offset, int length)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var data = new byte[length];
        var done = 0;
        while (done < length)
        {
            var read = RandomAccess.Read(handle, data.AsSpan(done), offset + done);
            if (read == 0)
            {
                break;
            }
            done += read;
        }
        return data;
    }

    public static byte[] ReadAll(string path) => Read(path, 0, checked((int)new FileInfo(path).Length));

    /// <summary><paramref name="length"/> bytes of <paramref name="value"/>.</summary>
    public static byte[] Filled(int length, byte value)
    {
        var data = new byte[length];
        Array.Fill(data, value);
        return data;
    }
}
