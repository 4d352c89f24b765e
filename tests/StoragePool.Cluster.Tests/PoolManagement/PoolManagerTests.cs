using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;

namespace StoragePool.Cluster.Tests;

public class PoolManagerTests
{
    private static readonly VolumeRef V = new("p", "v");

    [Test]
    public async Task Volumes_and_snapshots_survive_a_reopen_as_they_were()
    {
        await using var f = await PoolManagerFixture.CreateAsync();
        await f.Manager.AddStoreAsync("s", f.StorePath, null, null);
        await f.Manager.CreatePoolAsync("p", "s");
        await f.Manager.CreateVolumeAsync(V, 10 * ByteSize.MiB);
        await f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "v", "s1"));
        await f.ReopenAsync();
        await f.Manager.RecoverAsync();
        var volume = await f.Manager.GetVolumeAsync(V);
        Assert.That(volume.SizeBytes, Is.EqualTo(10 * ByteSize.MiB));
        Assert.That(volume.State, Is.EqualTo("ready"));
        Assert.That((await f.Manager.ListSnapshotsAsync(V)).Select(s => s.Name), Is.EqualTo(new[] { "s1" }));
        Assert.That((await f.Manager.GetPoolAsync("p")).VolumeCount, Is.EqualTo(1));
    }

    [Test]
    public async Task A_size_that_is_not_whole_blocks_is_rounded_up_with_a_note()
    {
        await using var f = await Prepared();
        var change = await f.Manager.CreateVolumeAsync(new VolumeRef("p", "odd"), 10001);
        Assert.That(change.Volume.SizeBytes, Is.EqualTo(12288));
        Assert.That(change.Notes.Single(), Does.Contain("rounded up"));
        Assert.That(new FileInfo(f.Store.GetVolumePath(change.Volume.Id)).Length, Is.EqualTo(12288));
    }

    [Test]
    public async Task Shrinking_needs_allow_shrink_and_changes_nothing_without_it()
    {
        await using var f = await Prepared();
        var e = await FailsAsync(() => f.Manager.ResizeVolumeAsync(V, ByteSize.MiB, allowShrink: false));
        Assert.That(e.Code, Is.EqualTo(ErrorCode.ShrinkNotAllowed));
        Assert.That(e.Message, Does.Contain("--allow-shrink"));
        Assert.That((await f.Manager.GetVolumeAsync(V)).SizeBytes, Is.EqualTo(4 * ByteSize.MiB));
        var shrunk = await f.Manager.ResizeVolumeAsync(V, ByteSize.MiB, allowShrink: true);
        Assert.That(shrunk.Volume.SizeBytes, Is.EqualTo(ByteSize.MiB));
    }

    [Test]
    public async Task A_truncate_through_the_file_ignores_the_files_own_handles_and_nothing_else()
    {
        await using var f = await Prepared();
        await using (await f.Manager.OpenAsync("p/v", VolumeHolder.File))
        await using (await f.Manager.OpenAsync("p/v", VolumeHolder.File))
        {
            var shrunk = await f.Manager.ResizeVolumeFileAsync(V, 2 * ByteSize.MiB, allowShrink: true);
            Assert.That(shrunk.Volume.SizeBytes, Is.EqualTo(2 * ByteSize.MiB), "the file's handles see the new size");
            var e = await FailsAsync(() => f.Manager.ResizeVolumeAsync(V, ByteSize.MiB, allowShrink: true));
            Assert.That(e.Code, Is.EqualTo(ErrorCode.VolumeInUse), "a shrink from the CLI counts the file's handles as clients");
        }
        await using (await f.Manager.OpenAsync("p/v", VolumeHolder.Connection))
        await using (await f.Manager.OpenAsync("p/v", VolumeHolder.File))
        {
            var e = await FailsAsync(() => f.Manager.ResizeVolumeFileAsync(V, ByteSize.MiB, allowShrink: true));
            Assert.That(e.Code, Is.EqualTo(ErrorCode.VolumeInUse), "an NBD client does not see a truncate");
            Assert.That(e.Message, Does.Contain("2 client(s)"));
        }
        Assert.That((await f.Manager.GetVolumeAsync(V)).SizeBytes, Is.EqualTo(2 * ByteSize.MiB));
        Assert.That((await f.Manager.ResizeVolumeFileAsync(V, ByteSize.MiB, allowShrink: true)).Volume.SizeBytes, Is.EqualTo(ByteSize.MiB),
            "free once every lease is gone");
    }

    [Test]
    public async Task A_pool_with_volumes_and_a_volume_with_snapshots_are_not_deleted()
    {
        await using var f = await Prepared();
        await f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "v", "s1"));
        Assert.That((await FailsAsync(() => f.Manager.DeletePoolAsync("p"))).Code, Is.EqualTo(ErrorCode.PoolNotEmpty));
        Assert.That((await FailsAsync(() => f.Manager.DeleteVolumeAsync(V, false))).Code, Is.EqualTo(ErrorCode.VolumeHasSnapshots));
        await f.Manager.DeleteVolumeAsync(V, withSnapshots: true);
        await f.Manager.DeletePoolAsync("p");
        Assert.That(f.DataFiles(), Is.Empty);
    }

    [Test]
    public async Task A_store_at_its_watermark_refuses_new_volumes_and_grows()
    {
        await using var f = await PoolManagerFixture.CreateAsync();
        await f.Manager.AddStoreAsync("s", f.StorePath, null, watermarkPercent: 99.9);
        await f.Manager.CreatePoolAsync("p", "s");
        var e = await FailsAsync(() => f.Manager.CreateVolumeAsync(V, ByteSize.MiB));
        Assert.That(e.Code, Is.EqualTo(ErrorCode.NoSpace));
        Assert.That(await f.Manager.ListVolumesAsync(null), Is.Empty);
        Assert.That(f.DataFiles(), Is.Empty);
    }

    [Test]
    public async Task A_store_whose_directory_has_gone_shows_empty_and_does_not_break_listings()
    {
        await using var f = await Prepared();
        Directory.Delete(f.StorePath, recursive: true);
        foreach (var reopen in new[] { false, true })
        {
            if (reopen)
            {
                await f.ReopenAsync(); // a fresh daemon, which cannot even open the store
            }
            var status = await f.Manager.GetStatusAsync();
            Assert.That(status.Stores.Single().CapacityBytes, Is.Zero);
            Assert.That(status.Pools.Single().VolumeCount, Is.EqualTo(1));
            Assert.That((await f.Manager.GetVolumeAsync(V)).AllocatedBytes, Is.Zero);
            var e = await FailsAsync(() => f.Manager.CreateVolumeAsync(new VolumeRef("p", "w"), ByteSize.MiB));
            Assert.That(e.Code, Is.AnyOf(ErrorCode.StorePathInvalid, ErrorCode.IoError), e.Message);
        }
        Directory.CreateDirectory(f.StorePath); // let the fixture clean up
    }

    [Test]
    public async Task Unknown_objects_are_reported_by_kind()
    {
        await using var f = await Prepared();
        Assert.That((await FailsAsync(() => f.Manager.GetVolumeAsync(new VolumeRef("nope", "v")))).Code, Is.EqualTo(ErrorCode.PoolNotFound));
        Assert.That((await FailsAsync(() => f.Manager.GetVolumeAsync(new VolumeRef("p", "nope")))).Code, Is.EqualTo(ErrorCode.VolumeNotFound));
        Assert.That((await FailsAsync(() => f.Manager.DeleteSnapshotAsync(new SnapshotRef("p", "v", "nope")))).Code, Is.EqualTo(ErrorCode.SnapshotNotFound));
        Assert.That((await FailsAsync(() => f.Manager.CreatePoolAsync("q", "nope"))).Code, Is.EqualTo(ErrorCode.StoreNotFound));
        Assert.That((await FailsAsync(() => f.Manager.CreateVolumeAsync(V, ByteSize.MiB))).Code, Is.EqualTo(ErrorCode.AlreadyExists));
    }

    [Test]
    public async Task Changes_are_reported_once_an_object_is_ready_and_when_it_goes()
    {
        await using var f = await Prepared();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new List<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var c in f.Manager.WatchChangesAsync(cts.Token))
            {
                seen.Add($"{c.Kind} {c.Change} {c.Name}");
                if (seen.Count == 4)
                {
                    return;
                }
            }
        }, cts.Token);
        await Task.Delay(200, cts.Token); // let the watch start
        var w = new VolumeRef("p", "w");
        await f.Manager.CreateVolumeAsync(w, ByteSize.MiB);
        await f.Manager.ResizeVolumeAsync(w, 2 * ByteSize.MiB, false);
        await f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "w", "s"));
        await f.Manager.DeleteVolumeAsync(w, withSnapshots: true);
        await watching;
        Assert.That(seen, Is.EqualTo(new[] { "Volume Added p/w", "Volume Changed p/w", "Snapshot Added p/w@s", "Volume Removed p/w" })
            .Or.EqualTo(new[] { "Volume Added p/w", "Volume Changed p/w", "Snapshot Added p/w@s", "Snapshot Removed p/w@s" }));
    }

    /// <summary>
    /// For every step of every multi-step operation: stop there as a crash would, reopen, recover,
    /// and find the pool whole: every record ready with its data, no data without a record, and the
    /// operation either fully undone (creates) or fully done (deletes, resizes, reverts).
    /// </summary>
    [TestCaseSource(typeof(CrashPoints), nameof(CrashPoints.All))]
    public async Task A_crash_at_any_step_leaves_nothing_half_made(string step)
    {
        await using var f = await Prepared();
        var v = await f.Manager.GetVolumeAsync(V);
        await File.WriteAllBytesAsync(f.Store.GetVolumePath(v.Id), Enumerable.Repeat((byte)'A', 8192).ToArray());
        await f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "v", "s0"));
        await File.WriteAllBytesAsync(f.Store.GetVolumePath(v.Id), Enumerable.Repeat((byte)'B', 8192).ToArray());

        await f.ReopenAsync(new ThrowAt(step));
        var operation = Operation(step, f);
        await Assert.ThrowsAsync<SimulatedCrashException>(() => operation(), $"the operation should pass step {step}");

        await f.ReopenAsync();
        await f.Manager.RecoverAsync();

        var volumes = await f.Manager.ListVolumesAsync(null);
        var snapshots = volumes.Count == 0 ? [] : (await Task.WhenAll(volumes.Select(x => f.Manager.ListSnapshotsAsync(new VolumeRef(x.Pool, x.Name))))).SelectMany(s => s).ToList();
        Assert.That(volumes.All(x => x.State == "ready"), "every volume is ready after recovery");
        var expectedFiles = volumes.Select(x => $"volumes/{x.Id}.img").Concat(snapshots.Select(s => $"snapshots/{s.Id}.img")).Order().ToList();
        Assert.That(f.DataFiles(), Is.EqualTo(expectedFiles), "data files are exactly those the records name");

        var names = volumes.Select(x => x.Name).Order().ToList();
        switch (step.Split('.')[0] + "." + step.Split('.')[1])
        {
            case "volume.create":
                Assert.That(names, Is.EqualTo(new[] { "v" }), "a create cut short is rolled back");
                break;
            case "volume.clone":
                Assert.That(names, Is.EqualTo(new[] { "v" }), "a clone cut short is rolled back");
                break;
            case "volume.delete":
                Assert.That(names, Is.Empty, "a delete that started is finished");
                break;
            case "volume.resize":
                Assert.That(volumes.Single().SizeBytes, Is.EqualTo(8 * ByteSize.MiB), "a resize that started is finished");
                Assert.That(new FileInfo(f.Store.GetVolumePath(volumes.Single().Id)).Length, Is.EqualTo(8 * ByteSize.MiB));
                break;
            case "volume.revert":
                var bytes = await File.ReadAllBytesAsync(f.Store.GetVolumePath(volumes.Single().Id));
                Assert.That(bytes.Take(8192).All(b => b == 'A'), "a revert that started is finished");
                break;
            case "snapshot.create":
                Assert.That(snapshots.Select(s => s.Name), Is.EqualTo(new[] { "s0" }), "a snapshot cut short is rolled back");
                break;
            case "snapshot.delete":
                Assert.That(snapshots, Is.Empty, "a snapshot delete that started is finished");
                break;
            default:
                Assert.Fail($"no expectation for step {step}");
                break;
        }

        // and the same operation now runs to the end
        await f.ReopenAsync();
        if (names.Contains("v") && step.StartsWith("volume.create", StringComparison.Ordinal))
        {
            await f.Manager.CreateVolumeAsync(new VolumeRef("p", "n"), ByteSize.MiB);
        }
    }

    private static Func<Task> Operation(string step, PoolManagerFixture f) => (step.Split('.')[0] + "." + step.Split('.')[1]) switch
    {
        "volume.create" => () => f.Manager.CreateVolumeAsync(new VolumeRef("p", "n"), ByteSize.MiB),
        "volume.delete" => () => f.Manager.DeleteVolumeAsync(V, withSnapshots: true),
        "volume.resize" => () => f.Manager.ResizeVolumeAsync(V, 8 * ByteSize.MiB, false),
        "volume.clone" => () => f.Manager.CloneVolumeAsync(new SnapshotRef("p", "v", "s0"), new VolumeRef("p", "c")),
        "volume.revert" => () => f.Manager.RevertVolumeAsync(new SnapshotRef("p", "v", "s0")),
        "snapshot.delete" => () => f.Manager.DeleteSnapshotAsync(new SnapshotRef("p", "v", "s0")),
        _ => () => f.Manager.CreateSnapshotAsync(new SnapshotRef("p", "v", "s1")),
    };

    private static async Task<StoragePoolException> FailsAsync(Func<Task> operation) =>
        (await Assert.ThrowsAsync<StoragePoolException>(async () => await operation()))!;

    private static async Task<PoolManagerFixture> Prepared(CrashPoints? crash = null)
    {
        var f = await PoolManagerFixture.CreateAsync(crash);
        await f.Manager.AddStoreAsync("s", f.StorePath, null, null);
        await f.Manager.CreatePoolAsync("p", "s");
        await f.Manager.CreateVolumeAsync(V, 4 * ByteSize.MiB);
        return f;
    }
}
