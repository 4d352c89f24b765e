using StoragePool.Core.Capacity;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Sizes;

namespace StoragePool.Core.Tests;

public class AdmissionTests
{
    private static readonly StoreRecord Store = new("s", StoreBackends.File, "/x", OvercommitRatio: 2.0, WatermarkPercent: 10, DateTimeOffset.UnixEpoch);
    private static readonly StoreUsage Usage = new(CapacityBytes: 100 * ByteSize.GiB, FreeBytes: 50 * ByteSize.GiB);

    [Test]
    public void Thin_volumes_are_admitted_up_to_capacity_times_the_overcommit_ratio()
    {
        Assert.DoesNotThrow(() => Admission.Check(Store, Usage, 150 * ByteSize.GiB, 50 * ByteSize.GiB, 0, "create"));
        var e = Assert.Throws<StoragePoolException>(() => Admission.Check(Store, Usage, 150 * ByteSize.GiB, 50 * ByteSize.GiB + 1, 0, "create v"))!;
        Assert.That(e.Code, Is.EqualTo(ErrorCode.NoSpace));
        Assert.That(e.Message, Does.Contain("over-commit").And.Contain("cannot create v"));
    }

    [Test]
    public void A_store_that_refuses_new_volumes_says_why_before_anyone_asks()
    {
        Assert.That(Admission.Warning(Store, Usage, 150 * ByteSize.GiB), Is.Null);
        Assert.That(Admission.Warning(Store, Usage with { FreeBytes = 10 * ByteSize.GiB - 1 }, 0),
            Does.Contain("below the 10% watermark").And.Contain("refused"));
        Assert.That(Admission.Warning(Store, Usage, 200 * ByteSize.GiB), Does.Contain("provisioned to its limit (2× capacity)"));
    }

    [Test]
    public void Nothing_is_admitted_when_free_space_is_below_the_watermark()
    {
        var low = Usage with { FreeBytes = 10 * ByteSize.GiB - 1 };
        var e = Assert.Throws<StoragePoolException>(() => Admission.Check(Store, low, 0, ByteSize.MiB, 0, "create v"))!;
        Assert.That(e.Code, Is.EqualTo(ErrorCode.NoSpace));
        Assert.That(e.Message, Does.Contain("below its watermark"));
    }

    [Test]
    public void A_copy_that_would_push_free_space_below_the_watermark_is_refused()
    {
        Assert.DoesNotThrow(() => Admission.Check(Store, Usage, 0, 0, 40 * ByteSize.GiB, "copy"));
        Assert.Throws<StoragePoolException>(() => Admission.Check(Store, Usage, 0, 0, 40 * ByteSize.GiB + 1, "copy"));
    }

    [TestCase(0.5, 5.0)]
    [TestCase(double.NaN, 5.0)]
    [TestCase(2.0, -1.0)]
    [TestCase(2.0, 100.0)]
    public void Policies_out_of_range_are_refused(double ratio, double watermark) =>
        Assert.That(Assert.Throws<StoragePoolException>(() => Admission.ValidatePolicy(ratio, watermark))!.Code, Is.EqualTo(ErrorCode.InvalidArgument));
}
