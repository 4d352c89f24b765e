using StoragePool.Transfer.Chunks;

namespace StoragePool.Transfer.Engine;

/// <summary>
/// The receiver's record of chunks that are durably written: 24-byte entries (chunk index, checksum) appended to
/// a file and fdatasync'd after the volume itself was flushed, so an entry never claims data a crash could lose.
/// A torn last entry is ignored. A resumed transfer sends only chunks the journal does not have.
/// </summary>
public sealed class ReceiveJournal : IDisposable
{
    private const int EntrySize = 8 + ChunkChecksum.Size;
    private readonly FileStream _file;

    private ReceiveJournal(FileStream file, Dictionary<long, ChunkChecksum> entries)
    {
        _file = file;
        Entries = entries;
    }

    /// <summary>What the journal held when it was opened.</summary>
    public IReadOnlyDictionary<long, ChunkChecksum> Entries { get; }

    public string Path => _file.Name;

    public static ReceiveJournal Open(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        var entries = new Dictionary<long, ChunkChecksum>();
        var whole = file.Length / EntrySize * EntrySize;
        var bytes = new byte[whole];
        file.ReadExactly(bytes);
        for (var at = 0; at < bytes.Length; at += EntrySize)
        {
            var index = BitConverter.ToInt64(bytes, at);
            entries[index] = ChunkChecksum.Read(bytes.AsSpan(at + 8, ChunkChecksum.Size));
        }
        file.SetLength(whole); // drop a torn entry
        file.Position = whole;
        return new ReceiveJournal(file, entries);
    }

    /// <summary>Appends entries and makes them durable; the caller has flushed the volume they describe.</summary>
    public void Append(IReadOnlyList<(long Index, ChunkChecksum Checksum)> entries)
    {
        var bytes = new byte[entries.Count * EntrySize];
        for (var i = 0; i < entries.Count; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * EntrySize), entries[i].Index);
            entries[i].Checksum.WriteTo(bytes.AsSpan((i * EntrySize) + 8));
        }
        _file.Write(bytes);
        _file.Flush(flushToDisk: true);
    }

    public void Dispose() => _file.Dispose();

    public static void Delete(string path)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }
}
