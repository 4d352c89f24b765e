using System.Text.Json;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Transfer;

[TestFixture]
public sealed class VolumeCopyTests : TransferTestBase
{
    private const long Chunk = 4 << 20;

    [Test]
    public async Task Copy_moves_only_data_and_the_copy_is_identical_and_no_bigger_than_the_source_data()
    {
        var name = NewName("full");
        // random data, text-like data, allocated zeros (written as zero bytes), holes everywhere else
        await CreateAsync(Source, name, "256M",
            "write -P 0x5a 0 6M", "write -P 0x00 40M 4M", "write -P 0x31 100M 1M", "write -P 0x77 255M 1M");
        var sourceAllocated = await AllocatedAsync(Source, name);

        var job = await CopyAsync(name);

        Assert.That(job.State, Is.EqualTo(JobStates.Succeeded));
        await AssertSameAsync(name, name);
        var nonZeroData = 8L << 20; // 6M + 1M + 1M
        Assert.That(job.Progress.BytesRead, Is.EqualTo(sourceAllocated), "only allocated ranges are read");
        Assert.That(job.Progress.ChunksZero, Is.GreaterThanOrEqualTo(1), "the allocated zero chunk is found");
        Assert.That(job.Progress.BytesWritten, Is.EqualTo(nonZeroData), "zeros are never written");
        Assert.That(await AllocatedAsync(Destination, name), Is.LessThanOrEqualTo(nonZeroData));
        Assert.That(job.Digest, Has.Length.EqualTo(32));
    }

    [Test]
    public async Task Incremental_copy_sends_only_the_chunks_that_changed()
    {
        var name = NewName("incr");
        await CreateAsync(Source, name, "128M", "write -P 0x21 0 64M");
        await CopyAsync(name, "--compress", "none");

        await WriteAsync(Source, name, "write -P 0x99 4M 4k", "write -P 0x98 40M 64k", "write -P 0x97 100M 4k");
        var again = await CopyAsync(name, "--incremental", "--compress", "none");

        await AssertSameAsync(name, name);
        Assert.That(again.Progress.ChunksSent, Is.EqualTo(3), "three chunks changed");
        Assert.That(again.Progress.BytesSent, Is.EqualTo(3 * Chunk));
        Assert.That(again.Progress.ChunksUnchanged, Is.EqualTo(14));
    }

    [Test]
    public async Task Copy_of_a_volume_in_use_is_the_snapshot_taken_at_its_start()
    {
        var name = NewName("inuse");
        await CreateAsync(Source, name, "64M", "write -P 0x41 0 32M");
        using var vm = await HeldConnection.OpenAsync(Uri(Source, name));

        var job = await StartCopyAsync(name, "--bandwidth", "8M", "--compress", "none");
        await WaitForJobAsync(Source, job.Id, j => j.Snapshot is not null && j.Progress.BytesDone > 0);
        Assert.That(await vm.RunAsync("write -P 0x42 0 1M"), Does.Contain("wrote 1048576/1048576"));

        var done = await WaitForJobAsync(Source, job.Id, j => j.State != JobStates.Running);
        Assert.That(done.State, Is.EqualTo(JobStates.Succeeded), done.Error);
        await Tools.OutputAsync("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x41 0 32M", Uri(Destination, name));
        var snapshots = await Source.RunCliAsync("snapshot", "list", name);
        Assert.That(snapshots.Succeeded().Stdout, Does.Not.Contain("transfer-"), "the engine's snapshot is removed");
    }

    [Test]
    public async Task A_volume_written_during_a_direct_copy_is_sent_again_from_a_snapshot()
    {
        var name = NewName("racy");
        await CreateAsync(Source, name, "64M", "write -P 0x51 0 48M");
        var job = await StartCopyAsync(name, "--bandwidth", "16M", "--compress", "none");
        await WaitForJobAsync(Source, job.Id, j => j.Progress.BytesDone >= 8L << 20);
        Assert.That((await Source.Client.GetJobAsync(job.Id)).Snapshot, Is.Null, "nobody had it open: no snapshot at the start");

        using (var vm = await HeldConnection.OpenAsync(Uri(Source, name)))
        {
            Assert.That(await vm.RunAsync("write -P 0x52 0 64k"), Does.Contain("wrote 65536/65536"), "a chunk already sent");
        }

        var done = await WaitForJobAsync(Source, job.Id, j => j.State != JobStates.Running);
        Assert.That(done.State, Is.EqualTo(JobStates.Succeeded), done.Error);
        await AssertSameAsync(name, name);
        var snapshots = await Source.RunCliAsync("snapshot", "list", name);
        Assert.That(snapshots.Succeeded().Stdout, Does.Not.Contain("transfer-"));
    }

    [Test]
    public async Task Snapshot_is_copied_under_the_name_given_by_as()
    {
        var name = NewName("snap");
        await CreateAsync(Source, name, "32M", "write -P 0x61 0 8M");
        (await Source.RunCliAsync("snapshot", "create", name + "@s1")).Succeeded();
        await WriteAsync(Source, name, "write -P 0x62 0 8M");
        var target = NewName("fromsnap");

        await CopyAsync(name + "@s1", "--as", target);

        await Tools.OutputAsync("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x61 0 8M", Uri(Destination, target));
    }

    [Test]
    public async Task Export_and_import_round_trip_through_a_sparse_checksummed_file()
    {
        var name = NewName("exp");
        await CreateAsync(Source, name, "128M", "write -P 0x13 8M 12M", "write -P 0x00 64M 4M");
        var file = Path.Combine(Source.Root, name.Replace('/', '-') + ".spvol");

        (await Source.RunCliAsync("volume", "export", name, file, "--compress", "zstd")).Succeeded();
        var restored = NewName("imp");
        (await Source.RunCliAsync("volume", "import", file, restored)).Succeeded();

        Assert.That(new FileInfo(file).Length, Is.LessThan(12 << 20), "holes and zeros take no room; the pattern compresses");
        var compare = await Tools.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", Uri(Source, name), Uri(Source, restored));
        Assert.That(compare.ExitCode, Is.Zero, compare.ToString());

        var again = await Source.RunCliAsync("volume", "export", name, file);
        AssertFails(again, ErrorCode.AlreadyExists, "already exists");
        var truncated = file + ".cut";
        await using (var input = File.OpenRead(file))
        await using (var output = File.Create(truncated))
        {
            var half = new byte[input.Length / 2];
            await input.ReadExactlyAsync(half);
            await output.WriteAsync(half);
        }
        var broken = NewName("cut");
        AssertFails(await Source.RunCliAsync("volume", "import", truncated, broken), ErrorCode.InvalidArgument, "truncated");
        AssertFails(await Source.RunCliAsync("volume", "show", broken), ErrorCode.VolumeNotFound, "not");
    }

    [Test]
    public async Task An_empty_volume_made_by_touch_exports_imports_and_copies()
    {
        var name = NewName("empty");
        await Tools.OutputAsync("touch", Path.Combine(Source.FuseMount, "default", "volumes", name["default/".Length..]));
        Assert.That((await Source.Client.GetVolumeAsync(VolumeRef.Parse(name))).SizeBytes, Is.Zero);
        var file = Path.Combine(Source.Root, name.Replace('/', '-') + ".spvol");

        (await Source.RunCliAsync("volume", "export", name, file)).Succeeded();
        var restored = NewName("restored");
        (await Source.RunCliAsync("volume", "import", file, restored)).Succeeded();
        (await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl)).Succeeded();

        Assert.That((await Source.Client.GetVolumeAsync(VolumeRef.Parse(restored))).SizeBytes, Is.Zero);
        Assert.That((await Destination.Client.GetVolumeAsync(VolumeRef.Parse(name))).SizeBytes, Is.Zero);
    }

    [Test]
    public async Task Bad_requests_are_refused_and_change_nothing()
    {
        var name = NewName("bad");
        await CreateAsync(Source, name, "16M", "write -P 0x01 0 1M");
        await CopyAsync(name);
        await WriteAsync(Source, name, "write -P 0x02 0 1M");

        AssertFails(await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl), ErrorCode.AlreadyExists, "--overwrite");
        await Tools.OutputAsync("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x01 0 1M", Uri(Destination, name));

        AssertFails(await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl, "--as", NewName("x"), "--bandwidth", "0"),
            ErrorCode.InvalidArgument, "bandwidth");
        AssertFails(await Source.RunCliAsync("volume", "copy", name + "@nosuch", "--to", DestinationUrl), ErrorCode.SnapshotNotFound, "nosuch");
        AssertFails(await Source.RunCliAsync("volume", "copy", "default/nosuch", "--to", DestinationUrl), ErrorCode.VolumeNotFound, "nosuch");
        AssertFails(await Source.RunCliAsync("volume", "copy", name, "--to", "10.0.0.2:7100"), ErrorCode.InvalidArgument, "http://");
        AssertFails(await Source.RunCliAsync("volume", "copy", name, "--to", $"http://127.0.0.1:{Ports.Free()}", "--as", NewName("x")),
            ErrorCode.PeerUnavailable, "cannot reach");

        var bigger = NewName("size");
        await CreateAsync(Destination, bigger, "32M");
        AssertFails(await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl, "--as", bigger, "--incremental"),
            ErrorCode.InvalidSize, "equal sizes");

        var overwritten = await CopyAsync(name, "--overwrite");
        Assert.That(overwritten.State, Is.EqualTo(JobStates.Succeeded));
        await AssertSameAsync(name, name);
    }

    [Test]
    public async Task Bandwidth_caps_the_rate_and_a_cancelled_copy_leaves_nothing_behind()
    {
        var name = NewName("slow");
        await CreateAsync(Source, name, "64M", "write -P 0x71 0 48M");

        var capped = await CopyAsync(name, "--bandwidth", "32M", "--compress", "none", "--as", NewName("capped"));
        // 48 MiB at 32 MiB/s, less the 8 MiB burst the bucket starts with
        Assert.That(capped.Progress.ElapsedSeconds, Is.GreaterThanOrEqualTo(1.2));

        var target = NewName("cancelled");
        var job = await StartCopyAsync(name, "--as", target, "--bandwidth", "8M");
        await WaitForJobAsync(Source, job.Id, j => j.Progress.BytesDone > 0);
        (await Source.RunCliAsync("job", "cancel", job.Id)).Succeeded();

        Assert.That((await Source.Client.GetJobAsync(job.Id)).State, Is.EqualTo(JobStates.Cancelled));
        AssertFails(await Destination.RunCliAsync("volume", "show", target), ErrorCode.VolumeNotFound, "does not exist");
        var list = await Source.RunCliAsync("job", "list");
        Assert.That(list.Succeeded().Stdout, Does.Contain(job.Id).And.Contain("cancelled"));
    }

    [Test]
    public async Task A_destination_without_room_refuses_before_any_byte_moves()
    {
        var name = NewName("room");
        await CreateAsync(Source, name, "16M", "write -P 0x72 0 4M");
        var storeDir = Path.Combine(Destination.Root, "full-store");
        Directory.CreateDirectory(storeDir);
        (await Destination.RunCliAsync("store", "add", "full", "--path", storeDir, "--watermark", "99")).Succeeded();
        (await Destination.RunCliAsync("pool", "create", "full", "--store", "full")).Succeeded();

        var result = await Source.RunCliAsync("volume", "copy", name, "--to", DestinationUrl, "--as", "full/x");

        AssertFails(result, ErrorCode.NoSpace, "watermark");
        AssertFails(await Destination.RunCliAsync("volume", "show", "full/x"), ErrorCode.VolumeNotFound, "does not exist");
    }
}
