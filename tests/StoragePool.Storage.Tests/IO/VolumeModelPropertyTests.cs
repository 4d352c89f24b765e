using FsCheck;
using FsCheck.Fluent;
using StoragePool.Core.Model;
using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests.IO;

/// <summary>
/// Any sequence of writes, trims, write-zeroes (with or without NoHole) and flushes, at any offsets and lengths,
/// leaves the volume equal to a byte array that had the same done to it, and its block status never calls a byte
/// zero that is not.
/// </summary>
public sealed class VolumeModelPropertyTests
{
    /// <summary>Ten blocks and a partial one.</summary>
    private const int Size = 10 * VolumeFile.BlockSize + 1234;

    private enum Action
    {
        Write,
        Trim,
        Zero,
        ZeroNoHole,
        Flush,
    }

    private sealed record Step(Action Action, int Offset, int Length, WriteOptions Fua);

    private static readonly Gen<Step> StepGen =
        from action in Gen.Frequency(
            (4, Gen.Constant(Action.Write)), (2, Gen.Constant(Action.Trim)), (2, Gen.Constant(Action.Zero)),
            (2, Gen.Constant(Action.ZeroNoHole)), (1, Gen.Constant(Action.Flush)))
        from offset in Gen.OneOf(Gen.Choose(0, Size), Gen.Choose(0, Size / VolumeFile.BlockSize).Select(b => b * VolumeFile.BlockSize))
        from length in Gen.Choose(0, Math.Min(Size - offset, 3 * VolumeFile.BlockSize))
        from fua in Gen.Elements(WriteOptions.None, WriteOptions.Fua)
        select new Step(action, offset, length, fua);

    [Test]
    public void Any_sequence_of_changes_leaves_the_volume_equal_to_the_model()
    {
        using var directory = new TestDirectory();
        var store = new FileStore(directory.Path);

        Check.QuickThrowOnFailure(Prop.ForAll(Gen.ListOf(StepGen).ToArbitrary(), steps =>
        {
            var id = Ids.New();
            store.CreateVolume(id, Size);
            try
            {
                using var volume = store.OpenVolume(id, "pool/" + id, WritePath.Empty, CancellationToken.None);
                var model = new byte[Size];
                var fill = 0;
                foreach (var step in steps)
                {
                    Apply(volume, model, step, ++fill).AsTask().GetAwaiter().GetResult();
                }

                var read = volume.ReadAllAsync().GetAwaiter().GetResult();
                var status = volume.GetBlockStatusAsync(0, Size).AsTask().GetAwaiter().GetResult();
                using (Assert.EnterMultipleScope())
                {
                    Assert.That(read, Is.EqualTo(model));
                    Assert.That(VolumeFile.ReadAll(store.GetVolumePath(id)), Is.EqualTo(model));
                    Assert.That(status[0].Offset, Is.Zero);
                    Assert.That(status.Zip(status.Skip(1)).All(p => p.First.Offset + p.First.Length == p.Second.Offset));
                    Assert.That(status[^1].Offset + status[^1].Length, Is.EqualTo(Size));
                    foreach (var run in status.Where(r => r.Zero))
                    {
                        Assert.That(model.AsSpan((int)run.Offset, (int)run.Length).ContainsAnyExcept((byte)0), Is.False,
                            $"run {run} says zero");
                    }
                }
            }
            finally
            {
                store.DeleteVolume(id);
            }
        }));
    }

    private static ValueTask Apply(BlockVolume volume, byte[] model, Step step, int fill)
    {
        var range = model.AsSpan(step.Offset, step.Length);
        switch (step.Action)
        {
            case Action.Write:
                var data = VolumeIo.Pattern(step.Length, fill);
                data.CopyTo(range);
                return volume.WriteAsync(step.Offset, data, step.Fua);
            case Action.Trim:
                range.Clear();
                return volume.TrimAsync(step.Offset, step.Length, step.Fua);
            case Action.Zero:
                range.Clear();
                return volume.WriteZeroesAsync(step.Offset, step.Length, step.Fua);
            case Action.ZeroNoHole:
                range.Clear();
                return volume.WriteZeroesAsync(step.Offset, step.Length, step.Fua | WriteOptions.NoHole);
            default:
                return volume.FlushAsync();
        }
    }
}
