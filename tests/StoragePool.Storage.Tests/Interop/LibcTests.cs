using System.Globalization;
using NUnit.Framework;
using StoragePool.Core.Errors;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;
using static StoragePool.Interop.Interop;

namespace StoragePool.Storage.Tests;

/// <summary>The libc structures read the same numbers the coreutils do: their layouts are right.</summary>
public sealed class LibcTests
{
    private TestDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TestDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void Fstat_reads_what_stat_prints()
    {
        var path = Path.Combine(_directory.Path, "file");
        File.WriteAllBytes(path, VolumeFile.Filled(3 * VolumeFile.BlockSize + 100, 1));

        Libc.FileStatus status;
        using (var handle = File.OpenHandle(path))
        {
            Assert.That(Libc.FStat(handle, out status), Is.Zero);
        }

        var expected = Tools.Output("stat", "-c", "%d %i %h %f %u %g %s %o %b %Y %Z", path);
        var actual = string.Join(' ',
            status.Device, status.Inode, status.LinkCount, status.Mode.ToString("x", CultureInfo.InvariantCulture),
            status.UserId, status.GroupId, status.Size, status.BlockSize, status.Blocks,
            status.ModificationTime.Seconds, status.ChangeTime.Seconds);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Statvfs_reads_what_stat_f_prints()
    {
        Assert.That(Libc.StatVfs(_directory.Path, out var status), Is.Zero);

        var expected = Tools.Output("stat", "-f", "-c", "%s %S %b %c %l", _directory.Path);
        var actual = string.Join(' ', status.BlockSize, status.FragmentSize, status.Blocks, status.Files, status.NameMax);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void A_full_file_system_is_NoSpace_and_other_errors_are_IoError_with_the_systems_words()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Libc.Error(Libc.ENOSPC, "writing x"), Has.Property(nameof(StoragePoolException.Code)).EqualTo(ErrorCode.NoSpace)
                .And.Message.EqualTo("writing x failed: No space left on device (errno 28)" + Libc.NoSpaceAdvice));
            Assert.That(Libc.Error(Libc.EDQUOT, "writing x").Code, Is.EqualTo(ErrorCode.NoSpace));
            Assert.That(Libc.Error(5, "reading x"), Has.Property(nameof(StoragePoolException.Code)).EqualTo(ErrorCode.IoError)
                .And.Message.EqualTo("reading x failed: Input/output error (errno 5)"));
        }
    }
}
