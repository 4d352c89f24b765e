using FsCheck;
using FsCheck.Fluent;
using StoragePool.Core.Errors;
using StoragePool.Core.Sizes;

namespace StoragePool.Core.Tests;

public class SizesTests
{
    [TestCase("4096", 4096L)]
    [TestCase("512M", 512L << 20)]
    [TestCase("512m", 512L << 20)]
    [TestCase("10G", 10L << 30)]
    [TestCase("10GB", 10L << 30)]
    [TestCase("10GiB", 10L << 30)]
    [TestCase("10 GiB", 10L << 30)]
    [TestCase("1.5T", 3L << 39)]
    [TestCase("0.5K", 512L)]
    [TestCase("100B", 100L)]
    [TestCase("1P", 1L << 50)]
    public void Sizes_parse_with_units_as_powers_of_1024(string text, long bytes) =>
        Assert.That(ByteSize.Parse(text), Is.EqualTo(bytes));

    [TestCase("", "is empty")]
    [TestCase("10X", "is not a size")]
    [TestCase("-5G", "is negative")]
    [TestCase("G", "is not a size")]
    [TestCase("1.2.3G", "is not a size")]
    [TestCase("99999999999P", "is too large")]
    public void Bad_sizes_are_refused_with_the_reason(string text, string reason)
    {
        var e = Assert.Throws<StoragePoolException>(() => ByteSize.Parse(text))!;
        Assert.That(e.Code, Is.EqualTo(ErrorCode.InvalidSize));
        Assert.That(e.Message, Does.Contain(reason).And.Contain("512M"));
    }

    [TestCase(0L, "0 B")]
    [TestCase(1023L, "1023 B")]
    [TestCase(1024L, "1 KiB")]
    [TestCase(10L << 30, "10 GiB")]
    [TestCase(3L << 39, "1.5 TiB")]
    [TestCase(12288L, "12 KiB")]
    public void Sizes_print_with_binary_units(long bytes, string text) => Assert.That(ByteSize.Format(bytes), Is.EqualTo(text));

    [Test]
    public void A_printed_size_parses_back_to_within_half_a_percent()
    {
        Check.QuickThrowOnFailure(Prop.ForAll(Gen.Choose(0, int.MaxValue).Select(i => (long)i * 4099).ToArbitrary(), bytes =>
        {
            var back = ByteSize.Parse(ByteSize.Format(bytes).Replace(" ", string.Empty, StringComparison.Ordinal));
            return Math.Abs(back - bytes) <= Math.Max(1, bytes / 200);
        }));
    }

    [Test]
    public void Volume_sizes_round_up_to_whole_4_KiB_blocks_and_say_so()
    {
        var (bytes, note) = VolumeSize.Normalize(10001);
        Assert.That(bytes, Is.EqualTo(12288));
        Assert.That(note, Does.Contain("rounded up to 12288 bytes"));
        Assert.That(VolumeSize.Normalize(8192), Is.EqualTo((8192L, (string?)null)));
    }

    [Test]
    public void Normalized_sizes_are_the_smallest_block_multiple_not_below_the_request()
    {
        Check.QuickThrowOnFailure(Prop.ForAll(Gen.Choose(1, int.MaxValue).Select(i => (long)i * 37).ToArbitrary(), requested =>
        {
            var (bytes, note) = VolumeSize.Normalize(requested);
            return bytes % VolumeSize.BlockSize == 0 && bytes >= requested && bytes - requested < VolumeSize.BlockSize
                && (note is null) == (bytes == requested);
        }));
    }

    [TestCase(0L)]
    [TestCase(-4096L)]
    [TestCase((1L << 50) + 1)]
    public void Zero_negative_and_huge_volume_sizes_are_refused(long bytes) =>
        Assert.That(Assert.Throws<StoragePoolException>(() => VolumeSize.Normalize(bytes))!.Code, Is.EqualTo(ErrorCode.InvalidSize));
}
