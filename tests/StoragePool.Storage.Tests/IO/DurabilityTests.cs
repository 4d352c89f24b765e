using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;

namespace StoragePool.Storage.Tests.IO;

/// <summary>
/// FUA and flush reach the disk: the store is on a loop-mounted XFS, whose "disk" is an image file we can read.
/// A buffered write stays in the page cache (delayed allocation, write-back after ~30 s) until fdatasync sends it
/// to the loop device, which writes it into the image.
/// </summary>
public sealed class DurabilityTests
{
    private const int Block = VolumeFile.BlockSize;

    private LoopXfs? _xfs;
    private string _image = null!;
    private FileStore _store = null!;

    [OneTimeSetUp]
    public void MountXfs()
    {
        var reason = LoopXfs.WhyUnavailable();
        if (reason is not null)
        {
            Assert.Ignore($"no loop-mounted file system to watch the disk of: {reason}");
        }
        _xfs = new LoopXfs();
        // LoopXfs keeps its image next to the mount point.
        _image = Path.Combine(Path.GetDirectoryName(_xfs.Path)!, "xfs.img");
        Assert.That(File.Exists(_image), Is.True, $"the XFS image is not at {_image}");
        _store = new FileStore(_xfs.Path);
    }

    [OneTimeTearDown]
    public void UnmountXfs() => _xfs?.Dispose();

    [Test]
    public async Task A_write_with_FUA_is_on_the_disk_when_it_is_acknowledged()
    {
        _store.CreateVolume("fua", 1024 * 1024);
        await using var volume = _store.OpenVolume("fua", "pool/fua", WritePath.Empty, CancellationToken.None);
        var plain = VolumeIo.Pattern(Block, 101);
        var forced = VolumeIo.Pattern(Block, 102);

        await volume.WriteAsync(0, plain, WriteOptions.None);
        Assume.That(OnDisk(plain), Is.False, "write-back ran at once; a FUA write could not be told apart");
        await volume.WriteAsync(8 * Block, forced, WriteOptions.Fua);

        Assert.That(OnDisk(forced), Is.True, "the FUA write is not in the image");
        // fdatasync writes the whole file's dirty data, so the plain write went along with it.
        Assert.That(OnDisk(plain), Is.True);
    }

    [Test]
    public async Task A_flush_puts_every_acknowledged_write_on_the_disk_whichever_open_made_it()
    {
        _store.CreateVolume("flush", 1024 * 1024);
        await using var first = _store.OpenVolume("flush", "pool/flush", WritePath.Empty, CancellationToken.None);
        await using var second = _store.OpenVolume("flush", "pool/flush", WritePath.Empty, CancellationToken.None);
        var data = VolumeIo.Pattern(Block, 201);
        await second.WriteAsync(4 * Block, data, WriteOptions.None);
        Assume.That(OnDisk(data), Is.False, "write-back ran before the flush; nothing to observe");

        await first.FlushAsync();

        Assert.That(OnDisk(data), Is.True, "the flushed write is not in the image");
    }

    /// <summary>Whether the block is anywhere in the image, at a block boundary (XFS places data in whole blocks).</summary>
    private bool OnDisk(byte[] block)
    {
        using var image = File.OpenHandle(_image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new byte[4 << 20];
        var length = RandomAccess.GetLength(image);
        for (var offset = 0L; offset < length; offset += buffer.Length)
        {
            var read = RandomAccess.Read(image, buffer, offset);
            for (var start = 0; start + Block <= read; start += Block)
            {
                if (buffer.AsSpan(start, Block).SequenceEqual(block))
                {
                    return true;
                }
            }
        }
        return false;
    }
}
