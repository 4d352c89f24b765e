using StoragePool.Api;

namespace StoragePool.IntegrationTests.Transfer;

/// <summary>The source daemon caps all its transfers together (--transfer-bandwidth).</summary>
[TestFixture]
public sealed class DaemonBandwidthTests : TransferTestBase
{
    protected override string[] SourceArguments => ["--transfer-bandwidth", "16M"];

    [Test]
    public async Task The_daemon_wide_cap_holds_a_copy_that_asks_for_no_limit()
    {
        var name = NewName("cap");
        await CreateAsync(Source, name, "64M", "write -P 0x73 0 32M");

        var job = await CopyAsync(name, "--compress", "none");

        Assert.That(job.State, Is.EqualTo(JobStates.Succeeded));
        Assert.That(job.BandwidthBytesPerSecond, Is.Null, "the job itself asked for no limit");
        // 32 MiB at 16 MiB/s, less the 4 MiB burst the bucket starts with
        Assert.That(job.Progress.ElapsedSeconds, Is.GreaterThanOrEqualTo(1.6));
        await AssertSameAsync(name, name);
    }
}
