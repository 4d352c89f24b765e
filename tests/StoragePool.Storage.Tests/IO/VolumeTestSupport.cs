using StoragePool.Storage.IO;

namespace StoragePool.Storage.Tests.IO;

/// <summary>A write stage that records what it sees (in order, from any thread) and can refuse or wait.</summary>
internal sealed class RecordingStage : IWriteStage
{
    private readonly List<(WriteRequest Request, byte[] Data)> _seen = [];

    /// <summary>Thrown (in the returned task) for every request when set.</summary>
    public Exception? Refusal { get; set; }

    /// <summary>Completes asynchronously, as a QoS stage that waits for tokens does.</summary>
    public bool Yields { get; set; }

    /// <summary>Shared by several stages to record the order they ran in.</summary>
    public List<string>? Order { get; init; }

    public string Label { get; init; } = "stage";

    public IReadOnlyList<(WriteRequest Request, byte[] Data)> Seen
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    public IReadOnlyList<WriteRequest> Requests => [.. Seen.Select(s => s.Request)];

    public async ValueTask BeforeWriteAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        lock (_seen)
        {
            _seen.Add((request, data.ToArray()));
            Order?.Add(Label);
        }
        if (Yields)
        {
            await Task.Yield();
        }
        if (Refusal is not null)
        {
            throw Refusal;
        }
    }
}

internal static class VolumeIo
{
    public static async Task<byte[]> ReadAsync(this IBlockVolume volume, long offset, int length)
    {
        var data = new byte[length];
        await volume.ReadAsync(offset, data);
        return data;
    }

    public static Task<byte[]> ReadAllAsync(this IBlockVolume volume) => volume.ReadAsync(0, checked((int)volume.Size));

    /// <summary>Random bytes, the same for the same seed.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>How many of this process's descriptors are open on <paramref name="path"/> (from /proc/self/fd).</summary>
    public static int OpenDescriptors(string path)
    {
        var full = Path.GetFullPath(path);
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == full)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed while we looked (the enumeration's own descriptor)
            }
        }
        return count;
    }
}
