using System.Diagnostics;
using StoragePool.Nbd.Tests.Support;
using StoragePool.Testing;

namespace StoragePool.Nbd.Tests.Benchmarks;

/// <summary>
/// A first look at speed, not a gate: <c>qemu-img bench</c> (QD 32) against this server and against
/// <c>nbdkit file</c> serving a copy of the same file, on unix sockets. Run by hand:
/// <c>dotnet test --filter Category=Benchmark</c>; the ratios are printed.
/// </summary>
[Explicit("a benchmark: run by hand")]
[Category("Benchmark")]
[NonParallelizable]
public sealed class QuickBenchTests
{
    private const long VolumeSize = 1L << 30;

    [TestCase(4096, 100_000)]
    [TestCase(1 << 20, 2_000)]
    public async Task Qemu_img_bench_against_nbdkit_file(int blockSize, int count)
    {
        NbdClients.Require("qemu-img", "nbdkit");
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("p/v", VolumeSize));
        var ours = $"driver=nbd,path={server.SocketPath},export=p/v";
        var copy = Path.Combine(server.Directory, "copy.img");
        var kitSocket = Path.Combine(server.Directory, "kit.sock");
        var kitPid = Path.Combine(server.Directory, "kit.pid");

        // fill both with data first, so that reads read
        var oursWrite = await BenchAsync(ours, blockSize, count, write: true);
        File.Copy(server.Exports.PathOf("p/v"), copy);
        await Tools.OutputAsync("nbdkit", "-U", kitSocket, "-P", kitPid, "file", copy);
        try
        {
            var theirs = $"driver=nbd,path={kitSocket}";
            var kitWrite = await BenchAsync(theirs, blockSize, count, write: true);
            var oursRead = await BenchAsync(ours, blockSize, count, write: false);
            var kitRead = await BenchAsync(theirs, blockSize, count, write: false);
            oursWrite = Math.Min(oursWrite, await BenchAsync(ours, blockSize, count, write: true));
            kitWrite = Math.Min(kitWrite, await BenchAsync(theirs, blockSize, count, write: true));
            oursRead = Math.Min(oursRead, await BenchAsync(ours, blockSize, count, write: false));
            kitRead = Math.Min(kitRead, await BenchAsync(theirs, blockSize, count, write: false));
            await TestContext.Out.WriteLineAsync(
                $"{blockSize} B x {count}, QD 32: write ours {oursWrite:0.00} s, nbdkit {kitWrite:0.00} s (speed ratio {kitWrite / oursWrite:0.00}); " +
                $"read ours {oursRead:0.00} s, nbdkit {kitRead:0.00} s (speed ratio {kitRead / oursRead:0.00})");
        }
        finally
        {
            if (File.Exists(kitPid) && int.TryParse(File.ReadAllText(kitPid).Trim(), out var pid))
            {
                using var kit = Process.GetProcessById(pid);
                kit.Kill();
                kit.WaitForExit();
            }
        }
    }

    private static async Task<double> BenchAsync(string imageOpts, int blockSize, int count, bool write)
    {
        var arguments = new List<string> { "bench", "-d", "32", "-s", blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", "none", "--pattern=171" };
        if (write)
        {
            arguments.Add("-w");
        }
        arguments.Add("--image-opts");
        arguments.Add(imageOpts);
        var watch = Stopwatch.StartNew();
        await Tools.OutputAsync("qemu-img", [.. arguments]);
        return watch.Elapsed.TotalSeconds;
    }
}
