using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using StoragePool.Core.Extents;
using StoragePool.Core.Model;
using StoragePool.Storage.IO;
using StoragePool.Storage.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Storage.Tests;

/// <summary>
/// Any sequence of 4 KiB-aligned writes, discards and flushes leaves the file system's extent map, the allocated
/// bytes and the contents equal to a block model of the volume.
/// </summary>
public sealed class ExtentMapPropertyTests
{
    private const int Blocks = 64;
    private const int Block = VolumeFile.BlockSize;

    private enum Action
    {
        Write,
        Discard,
        Flush,
    }

    private sealed record Step(Action Action, int Block, int Count);

    private static readonly Gen<Step> StepGen =
        from action in Gen.Frequency((4, Gen.Constant(Action.Write)), (2, Gen.Constant(Action.Discard)), (1, Gen.Constant(Action.Flush)))
        from block in Gen.Choose(0, Blocks - 1)
        from count in Gen.Choose(1, Math.Min(8, Blocks - block))
        select new Step(action, block, count);

    [Test]
    public void Extents_allocation_and_contents_follow_writes_and_discards()
    {
        using var directory = new TestDirectory();
        var store = new FileStore(directory.Path);

        Check.QuickThrowOnFailure(Prop.ForAll(Gen.ListOf(StepGen).ToArbitrary(), steps =>
        {
            var id = Ids.New();
            store.CreateVolume(id, Blocks * Block);
            try
            {
                var model = Apply(store, id, steps);

                var allocatedBlocks = model.Count(b => b != 0);
                using (Assert.EnterMultipleScope())
                {
                    Assert.That(store.GetVolumeExtents(id), Is.EqualTo(ExtentsOf(model)));
                    // ext4 counts the data blocks, plus one block of extent tree once the written-back file
                    // has more extents than fit in its inode (4); 64 blocks never need a second tree block.
                    Assert.That(store.GetVolumeAllocatedBytes(id),
                        Is.EqualTo(allocatedBlocks * Block).Or.EqualTo((allocatedBlocks + 1) * Block));
                    Assert.That(VolumeFile.ReadAll(store.GetVolumePath(id)), Is.EqualTo(ContentsOf(model)));
                }
            }
            finally
            {
                store.DeleteVolume(id);
            }
        }));
    }

    /// <summary>Runs the steps on the volume; returns the model: per block, the byte it is filled with (0: a hole).</summary>
    private static byte[] Apply(FileStore store, string id, IEnumerable<Step> steps)
    {
        var model = new byte[Blocks];
        using var handle = File.OpenHandle(store.GetVolumePath(id), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        using var volume = store.OpenVolume(id, "p/v", WritePath.Empty, CancellationToken.None);
        var fill = (byte)0;
        foreach (var step in steps)
        {
            switch (step.Action)
            {
                case Action.Write:
                    fill = (byte)(fill % 255 + 1);
                    RandomAccess.Write(handle, VolumeFile.Filled(step.Count * Block, fill), (long)step.Block * Block);
                    Array.Fill(model, fill, step.Block, step.Count);
                    break;
                case Action.Discard:
                    volume.TrimAsync((long)step.Block * Block, (long)step.Count * Block, WriteOptions.None).AsTask().GetAwaiter().GetResult();
                    Array.Fill(model, (byte)0, step.Block, step.Count);
                    break;
                case Action.Flush:
                    RandomAccess.FlushToDisk(handle);
                    break;
            }
        }
        return model;
    }

    private static IReadOnlyList<Extent> ExtentsOf(byte[] model) =>
        ExtentList.Normalize(Enumerable.Range(0, Blocks)
            .Where(b => model[b] != 0)
            .Select(b => new Extent((long)b * Block, Block)));

    private static byte[] ContentsOf(byte[] model) =>
        model.SelectMany(fill => Enumerable.Repeat(fill, Block)).ToArray();
}
