using System.ComponentModel;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests.Support;

/// <summary>
/// An XFS file system with reflink, made in a sparse image file and loop-mounted on a fresh temp directory: the
/// temp directory itself is ext4, which has no FICLONE. Mounting needs root, a loop device and mkfs.xfs (xfsprogs,
/// which scripts/test.sh installs).
/// </summary>
internal sealed class LoopXfs : IDisposable
{
    /// <summary>Sparse, so it costs only what XFS writes; mkfs.xfs refuses file systems under 300 MiB.</summary>
    private const long ImageBytes = 512L << 20;

    private readonly TestDirectory _directory = new();

    public LoopXfs()
    {
        var image = System.IO.Path.Combine(_directory.Path, "xfs.img");
        Path = Directory.CreateDirectory(System.IO.Path.Combine(_directory.Path, "mnt")).FullName;
        try
        {
            using (var handle = File.OpenHandle(image, FileMode.CreateNew, FileAccess.Write))
            {
                RandomAccess.SetLength(handle, ImageBytes);
            }
            try
            {
                Tools.Output("mkfs.xfs", "-q", "-m", "reflink=1", image);
            }
            catch (Win32Exception ex)
            {
                throw new InvalidOperationException(
                    $"mkfs.xfs could not be run ({ex.Message}); install xfsprogs (apt-get install xfsprogs)", ex);
            }
            Tools.Output("mount", "-o", "loop", image, Path);
        }
        catch
        {
            _directory.Dispose();
            throw;
        }
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>Why a loop-mounted XFS cannot be made here, or null when it can.</summary>
    public static string? WhyUnavailable()
    {
        if (Environment.UserName != "root")
        {
            return $"mounting a loop device needs root; this runs as '{Environment.UserName}'";
        }
        if (!File.Exists("/dev/loop-control"))
        {
            return "there is no /dev/loop-control, so no loop device to mount an XFS image on";
        }
        return null;
    }

    /// <summary>Unmounts (retrying while the file system is briefly busy) and deletes the image.</summary>
    public void Dispose()
    {
        for (var attempt = 1; !Tools.Succeeds("umount", Path); attempt++)
        {
            if (attempt == 20)
            {
                // Once more, to throw with umount's message rather than delete the directory through the mount.
                Tools.Output("umount", Path);
                break;
            }
            Thread.Sleep(100);
        }
        _directory.Dispose();
    }
}
