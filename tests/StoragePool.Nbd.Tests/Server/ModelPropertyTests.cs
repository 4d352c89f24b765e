using FsCheck;
using FsCheck.Fluent;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>
/// Any sequence of writes, trims, write-zeroes and reads sent over a real NBD connection leaves the volume equal to
/// a byte array that had the same done to it; every read along the way (small, large and sparse, fragmented or not)
/// sees the model's bytes.
/// </summary>
public sealed class ModelPropertyTests
{
    /// <summary>A megabyte and a bit, so that the end is not aligned.</summary>
    private const int Size = (1 << 20) + 1234;

    private enum Action
    {
        Write,
        Trim,
        Zero,
        ZeroNoHole,
        Read,
        ReadDontFragment,
        Flush,
    }

    private sealed record Step(Action Action, int Offset, int Length, bool Fua);

    private static readonly Gen<Step> StepGen =
        from action in Gen.Frequency(
            (4, Gen.Constant(Action.Write)), (2, Gen.Constant(Action.Trim)), (2, Gen.Constant(Action.Zero)),
            (1, Gen.Constant(Action.ZeroNoHole)), (3, Gen.Constant(Action.Read)), (1, Gen.Constant(Action.ReadDontFragment)),
            (1, Gen.Constant(Action.Flush)))
        from offset in Gen.OneOf(Gen.Choose(0, Size), Gen.Choose(0, Size / 4096).Select(b => b * 4096))
        from length in Gen.OneOf(Gen.Choose(0, Math.Min(Size - offset, 8192)), Gen.Choose(0, Math.Min(Size - offset, 256 << 10)))
        from fua in Gen.Frequency((9, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new Step(action, offset, length, fua);

    [Test]
    public async Task Any_sequence_of_write_trim_and_zero_over_nbd_leaves_the_volume_equal_to_the_model()
    {
        await using var server = await ServerHarness.StartAsync();
        var cases = 0;

        Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), Prop.ForAll(Gen.ListOf(StepGen).ToArbitrary(), Gen.Elements(true, false).ToArbitrary(),
            (steps, structured) => Run(server, ++cases, [.. steps], structured).GetAwaiter().GetResult()));
    }

    private static async Task Run(ServerHarness server, int number, Step[] steps, bool structured)
    {
        var name = $"pool/case{number}";
        var path = server.Exports.AddVolume(name, Size);
        await using var client = await NbdTestClient.OpenAsync(server.SocketPath, name, structured);
        var model = new byte[Size];
        var fill = 0;
        foreach (var step in steps)
        {
            var flags = step.Fua ? NbdCommandFlags.Fua : NbdCommandFlags.None;
            var range = model.AsSpan(step.Offset, step.Length);
            switch (step.Action)
            {
                case Action.Write:
                    var data = Pattern(step.Length, ++fill);
                    data.CopyTo(range);
                    await client.WriteAsync(step.Offset, data, flags);
                    break;
                case Action.Trim:
                    range.Clear();
                    await client.TrimAsync(step.Offset, step.Length, flags);
                    break;
                case Action.Zero:
                    range.Clear();
                    await client.ZeroAsync(step.Offset, step.Length, flags);
                    break;
                case Action.ZeroNoHole:
                    range.Clear();
                    await client.ZeroAsync(step.Offset, step.Length, flags | NbdCommandFlags.NoHole);
                    break;
                case Action.Read:
                case Action.ReadDontFragment when structured:
                    var read = await client.ReadAsync(step.Offset, step.Length,
                        step.Action == Action.ReadDontFragment ? NbdCommandFlags.DontFragment : NbdCommandFlags.None);
                    Bytes.AssertSame(read, model.AsSpan(step.Offset, step.Length), $"read {step}");
                    break;
                default:
                    await client.FlushAsync();
                    break;
            }
        }
        Bytes.AssertSame(await client.ReadAsync(0, Size), model, "the whole volume over NBD");
        await client.DisconnectAsync();
        Bytes.AssertSame(await File.ReadAllBytesAsync(path), model, "the volume's file");
    }

    /// <summary>Bytes that differ from write to write and are never all zero.</summary>
    private static byte[] Pattern(int length, int fill)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) + fill | 1);
        }
        return bytes;
    }
}
