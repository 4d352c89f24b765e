using System.Text.Json;
using StoragePool.Api;
using StoragePool.Core.Errors;

namespace StoragePool.IntegrationTests.Transfer;

/// <summary>Damaged chunks and daemons killed mid-way; the source damages chunk 1 of each copy once (STORAGEPOOL_TEST_DAMAGE_CHUNK).</summary>
[TestFixture]
public sealed class TransferFaultTests : TransferTestBase
{
    protected override IDictionary<string, string>? SourceEnvironment => new Dictionary<string, string>
    {
        ["STORAGEPOOL_TEST_DAMAGE_CHUNK"] = "1:1",
    };

    [Test]
    public async Task A_chunk_damaged_once_is_detected_and_sent_again()
    {
        var name = NewName("dmg");
        await CreateAsync(Source, name, "32M", "write -P 0x3c 0 16M");

        var job = await CopyAsync(name);

        Assert.That(job.Progress.Retries, Is.EqualTo(1));
        await AssertSameAsync(name, name);
    }

    [Test]
    public async Task A_chunk_damaged_twice_fails_the_copy_with_its_offset_and_is_never_acknowledged()
    {
        Source.SetEnvironment("STORAGEPOOL_TEST_DAMAGE_CHUNK", "1:2");
        await Source.StopAsync();
        await Source.RestartAsync();
        try
        {
            var name = NewName("dmg2");
            await CreateAsync(Source, name, "32M", "write -P 0x3d 0 16M");

            var result = await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl, "--streams", "1");

            Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.ChecksumMismatch), result.ToString());
            Assert.That(result.Stderr, Does.Contain("chunk 1 (bytes 4194304–8388608)").And.Contain("damaged twice"));
            var target = await Destination.Client.GetVolumeAsync(Core.Naming.VolumeRef.Parse(name));
            Assert.That(target.State, Is.EqualTo("receiving"), "an unverified copy is not served");
        }
        finally
        {
            Source.SetEnvironment("STORAGEPOOL_TEST_DAMAGE_CHUNK", "1:1");
            await Source.StopAsync();
            await Source.RestartAsync();
        }
    }

    [Test]
    public async Task Receiver_killed_mid_way_then_the_job_resumes_from_its_journal()
    {
        var name = NewName("killrx");
        await CreateAsync(Source, name, "96M", "write -P 0x4b 0 96M");
        var job = await StartCopyAsync(name, "--bandwidth", "24M", "--compress", "none");
        await WaitForJobAsync(Source, job.Id, j => j.Progress.BytesDone >= 48L << 20);

        await Destination.KillAsync();
        var failed = await WaitForJobAsync(Source, job.Id, j => j.State != JobStates.Running);
        Assert.That(failed.State, Is.EqualTo(JobStates.Failed));
        Assert.That(failed.ErrorCode, Is.EqualTo(ErrorCode.PeerUnavailable.Id()).Or.EqualTo(ErrorCode.Internal.Id()), failed.Error);
        await Destination.RestartAsync();

        var resumed = await Source.RunCliAsync("job", "resume", job.Id, "--json");
        var done = JsonSerializer.Deserialize(resumed.Succeeded().Stdout, ApiJsonContext.Default.JobInfo)!;

        Assert.That(done.State, Is.EqualTo(JobStates.Succeeded));
        Assert.That(done.Resumed, Is.True);
        Assert.That(done.Progress.ChunksUnchanged, Is.GreaterThanOrEqualTo(6), "chunks in the journal are not sent again");
        await AssertSameAsync(name, name);
    }

    [Test]
    public async Task Sender_killed_mid_way_then_the_same_copy_resumes()
    {
        var name = NewName("killtx");
        await CreateAsync(Source, name, "96M", "write -P 0x5b 0 96M");
        var job = await StartCopyAsync(name, "--bandwidth", "24M", "--compress", "none");
        await WaitForJobAsync(Source, job.Id, j => j.Progress.BytesDone >= 48L << 20);

        await Source.KillAsync();
        await Source.RestartAsync();
        Assert.That((await Source.Client.GetJobAsync(job.Id)).State, Is.EqualTo(JobStates.Interrupted));

        var again = await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl, "--json");
        var done = JsonSerializer.Deserialize(again.Succeeded().Stdout, ApiJsonContext.Default.JobInfo)!;

        Assert.That(done.Id, Is.EqualTo(job.Id));
        Assert.That(again.Stderr, Does.Contain("resumes an earlier run"));
        Assert.That(done.Progress.ChunksUnchanged, Is.GreaterThanOrEqualTo(6));
        await AssertSameAsync(name, name);
    }
}
