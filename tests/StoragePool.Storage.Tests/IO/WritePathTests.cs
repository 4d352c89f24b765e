using StoragePool.Core.Errors;
using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests.IO;

/// <summary>
/// The write path is the one place every data-changing request passes, once, before it is applied: the replication
/// log and QoS will stand there, so a request that slips past it would be a write a replica never sees.
/// </summary>
public sealed class WritePathTests
{
    private const int Block = VolumeFile.BlockSize;
    private const long Size = 64 * Block;
    private const string Name = "pool/v1";

    private TestDirectory _directory = null!;
    private FileStore _store = null!;
    private RecordingStage _stage = null!;
    private BlockVolume _volume = null!;
    private string _path = null!;

    /// <summary>Every call that changes data, with the request the write path must see for it.</summary>
    public static IEnumerable<TestCaseData> Changes()
    {
        yield return Case("write", v => v.WriteAsync(Block + 10, VolumeIo.Pattern(5000, 1), WriteOptions.None),
            new WriteRequest(Name, WriteKind.Write, Block + 10, 5000, WriteOptions.None));
        yield return Case("write with FUA", v => v.WriteAsync(0, VolumeIo.Pattern(Block, 2), WriteOptions.Fua),
            new WriteRequest(Name, WriteKind.Write, 0, Block, WriteOptions.Fua));
        yield return Case("trim", v => v.TrimAsync(2 * Block, 3 * Block, WriteOptions.None),
            new WriteRequest(Name, WriteKind.Trim, 2 * Block, 3 * Block, WriteOptions.None));
        yield return Case("trim with FUA", v => v.TrimAsync(100, 7000, WriteOptions.Fua),
            new WriteRequest(Name, WriteKind.Trim, 100, 7000, WriteOptions.Fua));
        yield return Case("write-zeroes", v => v.WriteZeroesAsync(Block, 4 * Block, WriteOptions.None),
            new WriteRequest(Name, WriteKind.WriteZeroes, Block, 4 * Block, WriteOptions.None));
        yield return Case("write-zeroes without a hole", v => v.WriteZeroesAsync(5, 9000, WriteOptions.NoHole),
            new WriteRequest(Name, WriteKind.WriteZeroes, 5, 9000, WriteOptions.NoHole));
        yield return Case("fast write-zeroes", v => v.WriteZeroesAsync(0, Size, WriteOptions.FastZero | WriteOptions.Fua),
            new WriteRequest(Name, WriteKind.WriteZeroes, 0, Size, WriteOptions.FastZero | WriteOptions.Fua));
        yield return Case("fast write-zeroes without a hole",
            v => v.WriteZeroesAsync(Block, Block, WriteOptions.FastZero | WriteOptions.NoHole),
            new WriteRequest(Name, WriteKind.WriteZeroes, Block, Block, WriteOptions.FastZero | WriteOptions.NoHole));

        static TestCaseData Case(string name, Func<IBlockVolume, ValueTask> call, WriteRequest expected) =>
            new TestCaseData(call, expected).SetArgDisplayNames(name);
    }

    /// <summary>Every call that does not change data.</summary>
    public static IEnumerable<TestCaseData> Reads()
    {
        yield return Case("read", async v => await v.ReadAsync(0, (int)Size));
        yield return Case("flush", async v => await v.FlushAsync());
        yield return Case("block status", async v => await v.GetBlockStatusAsync(0, Size));

        static TestCaseData Case(string name, Func<IBlockVolume, Task> call) =>
            new TestCaseData(call).SetArgDisplayNames(name);
    }

    [SetUp]
    public void SetUp()
    {
        _directory = new TestDirectory();
        _store = new FileStore(_directory.Path);
        _store.CreateVolume("v1", Size);
        _path = _store.GetVolumePath("v1");
        VolumeFile.Write(_path, 0, VolumeIo.Pattern((int)Size, 42));
        _stage = new RecordingStage();
        _volume = _store.OpenVolume("v1", Name, new WritePath([_stage]), CancellationToken.None);
    }

    [TearDown]
    public void TearDown()
    {
        _volume.Dispose();
        _directory.Dispose();
    }

    [TestCaseSource(nameof(Changes))]
    public async Task Every_change_passes_the_write_path_once_with_its_request(Func<IBlockVolume, ValueTask> change,
        WriteRequest expected)
    {
        await change(_volume);

        Assert.That(_stage.Requests, Is.EqualTo(new[] { expected }));
    }

    [TestCaseSource(nameof(Changes))]
    public async Task A_stage_that_waits_holds_the_change_until_it_is_done(Func<IBlockVolume, ValueTask> change,
        WriteRequest expected)
    {
        _stage.Yields = true;

        await change(_volume);

        Assert.That(_stage.Requests, Is.EqualTo(new[] { expected }));
    }

    [TestCaseSource(nameof(Changes))]
    public void A_change_refused_by_a_stage_is_not_applied(Func<IBlockVolume, ValueTask> change, WriteRequest expected)
    {
        var before = VolumeFile.ReadAll(_path);
        var allocated = _store.GetVolumeAllocatedBytes("v1");
        _stage.Refusal = new StoragePoolException(ErrorCode.NoSpace, "the replication log is full");

        Assert.That(async () => await change(_volume), Fails.With(ErrorCode.NoSpace, "replication log is full"));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(_stage.Requests, Is.EqualTo(new[] { expected }));
            Assert.That(VolumeFile.ReadAll(_path), Is.EqualTo(before));
            Assert.That(_store.GetVolumeAllocatedBytes("v1"), Is.EqualTo(allocated));
        }
    }

    [TestCaseSource(nameof(Changes))]
    public void A_change_refused_by_a_stage_that_waits_is_not_applied(Func<IBlockVolume, ValueTask> change,
        WriteRequest expected)
    {
        var before = VolumeFile.ReadAll(_path);
        _stage.Yields = true;
        _stage.Refusal = new StoragePoolException(ErrorCode.Unsupported, "throttled");

        Assert.That(async () => await change(_volume), Fails.With(ErrorCode.Unsupported, "throttled"));
        Assert.That(VolumeFile.ReadAll(_path), Is.EqualTo(before));
    }

    [TestCaseSource(nameof(Reads))]
    public async Task Reads_flushes_and_block_status_do_not_pass_the_write_path(Func<IBlockVolume, Task> read)
    {
        await read(_volume);

        Assert.That(_stage.Requests, Is.Empty);
    }

    [Test]
    public async Task A_write_stage_sees_the_bytes_being_written_and_no_bytes_for_trims_and_zeroes()
    {
        var data = VolumeIo.Pattern(3000, 7);

        await _volume.WriteAsync(Block + 1, data, WriteOptions.None);
        await _volume.TrimAsync(0, Block, WriteOptions.None);
        await _volume.WriteZeroesAsync(0, Block, WriteOptions.NoHole);

        var seen = _stage.Seen;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(seen[0].Data, Is.EqualTo(data));
            Assert.That(seen[1].Data, Is.Empty);
            Assert.That(seen[2].Data, Is.Empty);
        }
    }

    [Test]
    public async Task Stages_run_in_the_order_given_and_each_sees_every_change()
    {
        var order = new List<string>();
        var qos = new RecordingStage { Label = "qos", Order = order, Yields = true };
        var log = new RecordingStage { Label = "log", Order = order };
        await using var volume = _store.OpenVolume("v1", Name, new WritePath([qos, log]), CancellationToken.None);

        await volume.WriteAsync(0, VolumeIo.Pattern(10, 1), WriteOptions.None);
        await volume.TrimAsync(0, Block, WriteOptions.None);

        Assert.That(order, Is.EqualTo(new[] { "qos", "log", "qos", "log" }));
        Assert.That(log.Requests, Is.EqualTo(qos.Requests));
    }

    [Test]
    public void A_later_stage_does_not_run_when_an_earlier_one_refuses()
    {
        var first = new RecordingStage { Refusal = new InvalidOperationException("no") };
        var second = new RecordingStage();
        using var volume = _store.OpenVolume("v1", Name, new WritePath([first, second]), CancellationToken.None);

        Assert.That(async () => await volume.WriteAsync(0, new byte[10], WriteOptions.None),
            Throws.InvalidOperationException);
        Assert.That(second.Requests, Is.Empty);
    }

    [Test]
    public void Requests_refused_for_their_range_never_reach_the_write_path()
    {
        Assert.That(async () => await _volume.WriteAsync(Size - 1, new byte[2], WriteOptions.None),
            Fails.With(ErrorCode.InvalidArgument));
        Assert.That(async () => await _volume.TrimAsync(-1, 1, WriteOptions.None), Fails.With(ErrorCode.InvalidArgument));
        Assert.That(async () => await _volume.WriteZeroesAsync(0, Size + 1, WriteOptions.None),
            Fails.With(ErrorCode.InvalidArgument));

        Assert.That(_stage.Requests, Is.Empty);
    }

    [Test]
    public void The_write_path_is_given_the_stages_as_they_were_when_it_was_made()
    {
        var stages = new List<IWriteStage> { _stage };
        var path = new WritePath(stages);
        stages.Add(new RecordingStage());

        Assert.That(path.Stages, Is.EqualTo(new[] { _stage }));
        Assert.That(WritePath.Empty.Stages, Is.Empty);
    }

    /// <summary>
    /// A new data-changing member of <see cref="IBlockVolume"/> must be added to <see cref="Changes"/> (and so be
    /// proved to pass the write path); this fails until someone classifies it.
    /// </summary>
    [Test]
    public void Every_member_of_the_block_volume_is_known_to_change_data_or_not()
    {
        var changes = new[] { "WriteAsync", "TrimAsync", "WriteZeroesAsync" };
        var others = new[]
        {
            "ReadAsync", "TryReadCached", "TryGetCachedFileRange", "FlushAsync", "PrefetchAsync", "GetBlockStatusAsync",
            "get_Name", "get_Size", "get_ReadOnly", "get_Revoked",
        };

        var members = typeof(IBlockVolume).GetMethods().Select(m => m.Name).Order(StringComparer.Ordinal);

        Assert.That(members, Is.EqualTo(changes.Concat(others).Order(StringComparer.Ordinal)));
        Assert.That(Changes().Select(c => ((WriteRequest)c.Arguments[1]!).Kind).Distinct(),
            Is.EquivalentTo(Enum.GetValues<WriteKind>()));
    }
}
