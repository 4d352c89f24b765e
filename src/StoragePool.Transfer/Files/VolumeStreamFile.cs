using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using StoragePool.Core.Errors;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;

namespace StoragePool.Transfer.Files;

/// <summary>
/// A volume as one self-describing file (<c>volume export</c> / <c>volume import</c>): the magic <c>SPVOLUME</c>,
/// a version, a JSON header (source, size, chunk size), then chunk records (<see cref="ChunkRecord"/>'s 36-byte
/// header and its payload) for chunks that hold non-zero data only, in any order, and a trailer: <c>SPDIGEST</c> and
/// the whole-volume digest. Holes and zero chunks take no room, payloads may be zstd, every chunk is checksummed.
/// </summary>
public static class VolumeStreamFile
{
    public const int Version = 1;
    private static readonly byte[] Magic = "SPVOLUME"u8.ToArray();
    private static readonly byte[] TrailerMagic = "SPDIGEST"u8.ToArray();

    public sealed record Header(string Source, long VolumeSize, int ChunkSize, DateTimeOffset CreatedAt, long DataBytes);

    internal static byte[] EncodeHeader(Header header)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(header, TransferJsonContext.Default.Header);
        var bytes = new byte[Magic.Length + 8 + json.Length];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), Version);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), json.Length);
        json.CopyTo(bytes, 16);
        return bytes;
    }

    internal static byte[] EncodeTrailer(ChunkChecksum digest)
    {
        var bytes = new byte[TrailerMagic.Length + ChunkChecksum.Size];
        TrailerMagic.CopyTo(bytes, 0);
        digest.WriteTo(bytes.AsSpan(TrailerMagic.Length));
        return bytes;
    }

    /// <summary>Reads the header; throws InvalidArgument for anything that is not a stream file of this version.</summary>
    public static async Task<Header> ReadHeaderAsync(Stream stream, string path, CancellationToken ct)
    {
        var fixedPart = new byte[16];
        await ReadExactlyAsync(stream, fixedPart, path, ct);
        if (!fixedPart.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{path}' is not a StoragePool volume stream (made by 'storagepool volume export')");
        }
        var version = BinaryPrimitives.ReadInt32BigEndian(fixedPart.AsSpan(8));
        var length = BinaryPrimitives.ReadInt32BigEndian(fixedPart.AsSpan(12));
        if (version != Version || length is <= 0 or > 1 << 20)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{path}' is a version {version} volume stream; this storagepool reads version {Version}");
        }
        var json = new byte[length];
        await ReadExactlyAsync(stream, json, path, ct);
        try
        {
            return JsonSerializer.Deserialize(json, TransferJsonContext.Default.Header)
                ?? throw new JsonException("empty header");
        }
        catch (JsonException e)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{path}' has a damaged header: {e.Message}", e);
        }
    }

    /// <summary>
    /// The next record (payload in <paramref name="payload"/>, which must hold a chunk's compress bound), or null at the
    /// trailer with its digest in <paramref name="digest"/>.
    /// </summary>
    public static async Task<(ChunkRecord? Record, ChunkChecksum Digest)> ReadRecordAsync(Stream stream, string path, ChunkLayout layout,
        byte[] header, Memory<byte> payload, CancellationToken ct)
    {
        await ReadExactlyAsync(stream, header.AsMemory(0, 8), path, ct);
        if (header.AsSpan(0, 8).SequenceEqual(TrailerMagic))
        {
            await ReadExactlyAsync(stream, header.AsMemory(0, ChunkChecksum.Size), path, ct);
            return (null, ChunkChecksum.Read(header));
        }
        await ReadExactlyAsync(stream, header.AsMemory(8, ChunkRecord.HeaderSize - 8), path, ct);
        var record = ChunkRecord.Read(header);
        record.Validate(layout);
        await ReadExactlyAsync(stream, payload[..record.PayloadLength], path, ct);
        return (record, default);
    }

    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, string path, CancellationToken ct)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer, ct);
        }
        catch (EndOfStreamException e)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{path}' ends early (at byte {stream.Position}): the file is truncated; export it again", e);
        }
    }
}

/// <summary>Writes a transfer into a stream file. The file must not exist (it is created), unless overwrite is given.</summary>
public sealed class StreamFileSink : IChunkSink
{
    private readonly string _path;
    private readonly bool _overwrite;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly byte[] _header = new byte[ChunkRecord.HeaderSize];
    private FileStream? _file;

    public StreamFileSink(string path, bool overwrite)
    {
        _path = path;
        _overwrite = overwrite;
    }

    public long BytesWritten { get; private set; }

    public async Task<SinkState> BeginAsync(TransferManifest manifest, CancellationToken ct)
    {
        try
        {
            _file = new FileStream(_path, _overwrite ? FileMode.Create : FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
        }
        catch (IOException e) when (File.Exists(_path))
        {
            throw new StoragePoolException(ErrorCode.AlreadyExists, $"'{_path}' already exists; remove it or pass --overwrite", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"cannot create '{_path}': {e.Message}", e);
        }
        var header = VolumeStreamFile.EncodeHeader(new VolumeStreamFile.Header(
            manifest.Source, manifest.VolumeSize, manifest.ChunkSize, DateTimeOffset.UtcNow, manifest.DataBytes));
        await _file.WriteAsync(header, ct);
        return new SinkState(new Dictionary<long, ChunkChecksum>(), Resumed: false);
    }

    public async Task SendAsync(ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            record.WriteTo(_header);
            await _file!.WriteAsync(_header, ct);
            await _file.WriteAsync(payload, ct);
            BytesWritten += _header.Length + payload.Length;
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task<SinkResult> CompleteAsync(ChunkChecksum digest, CancellationToken ct)
    {
        await _file!.WriteAsync(VolumeStreamFile.EncodeTrailer(digest), ct);
        await _file.FlushAsync(ct);
        _file.Flush(flushToDisk: true);
        return new SinkResult(BytesWritten, _file.Length, digest);
    }

    public async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            await _file.DisposeAsync();
        }
        _write.Dispose();
    }
}
