using System.Buffers.Binary;
using StoragePool.Nbd.Protocol;
using StoragePool.Nbd.Tests.Support;

namespace StoragePool.Nbd.Tests.Server;

/// <summary>
/// Many connections at a high queue depth, as QEMU drives a busy VM's disk, each under a watchdog: a request that is
/// never answered fails the test in seconds and says which connection stopped and with how much in flight.
/// </summary>
[NonParallelizable]
public sealed class ConcurrencyTests
{
    private const long VolumeSize = 256L << 20;
    private const int BlockSize = 4096;
    private const int QueueDepth = 32;
    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The reply hand-off once lost a reply when two finished at the same moment as the sender let go (docs/threading.md).
    /// A client that keeps its queue full never noticed: the next reply sent the lost one too. A client that waits for
    /// a burst of requests to finish before it sends more (as QEMU's <c>qemu-img bench</c> often did) waited forever.
    /// So each connection here sends bursts of 32 writes in one go and waits for all 32 replies; the replies of a burst
    /// finish together, the moment the lost reply needed.
    /// </summary>
    [Test]
    public async Task Every_4k_random_write_is_answered_when_bursts_of_32_finish_together_on_many_connections()
    {
        await using var server = await ServerHarness.StartAsync(populate: e => e.AddVolume("pool/vol", VolumeSize));
        const int connections = 4;
        const int burstsEach = 10_000;

        var runs = Enumerable.Range(0, connections)
            .Select(i => Task.Run(() => WriteBurstsAsync(server.SocketPath, "pool/vol", i, burstsEach)))
            .ToArray();
        var answered = await Task.WhenAll(runs);

        Assert.That(answered, Is.All.EqualTo(burstsEach * QueueDepth));
    }

    /// <summary>
    /// Sends <paramref name="bursts"/> bursts of <see cref="QueueDepth"/> 4 KiB writes at random aligned offsets, each
    /// burst in one write, and reads every reply of a burst before sending the next; checks every reply (magic, no
    /// error, a handle of this burst, once). Returns how many were answered.
    /// </summary>
    private static async Task<int> WriteBurstsAsync(string socketPath, string export, int seed, int bursts)
    {
        await using var client = await NbdTestClient.OpenAsync(socketPath, export);
        var random = new Random(seed);
        var frameSize = NbdLimits.RequestSize + BlockSize;
        var burst = new byte[QueueDepth * frameSize];
        random.NextBytes(burst);
        var replies = new byte[QueueDepth * NbdLimits.SimpleReplySize];
        var answered = 0;
        for (var b = 0; b < bursts; b++)
        {
            var first = (ulong)b * QueueDepth;
            for (var i = 0; i < QueueDepth; i++)
            {
                var offset = (ulong)random.NextInt64(VolumeSize / BlockSize) * BlockSize;
                NbdCodec.WriteRequest(burst.AsSpan(i * frameSize), new NbdRequest(0, NbdCommand.Write, first + (ulong)i, offset, BlockSize));
            }
            await client.WriteRawAsync(burst);

            var seen = 0u;
            var filled = 0;
            while (filled < replies.Length)
            {
                using var watchdog = new CancellationTokenSource(Watchdog);
                int read;
                try
                {
                    read = await client.ReadSomeAsync(replies.AsMemory(filled), watchdog.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException(
                        $"connection {seed}, burst {b}: {filled / NbdLimits.SimpleReplySize} of {QueueDepth} replies came, then none " +
                        $"for {Watchdog.TotalSeconds:0} s ({answered} answered before): the server stopped answering");
                }
                if (read == 0)
                {
                    throw new EndOfStreamException($"connection {seed}: the server closed the connection after {answered} replies");
                }
                filled += read;
            }
            for (var at = 0; at < replies.Length; at += NbdLimits.SimpleReplySize)
            {
                var reply = replies.AsSpan(at, NbdLimits.SimpleReplySize);
                var magic = BinaryPrimitives.ReadUInt32BigEndian(reply);
                var (error, handle) = NbdCodec.ReadSimpleReply(reply);
                var index = (int)(handle - first);
                if (magic != NbdMagic.SimpleReply || error != NbdError.None || handle < first || index >= QueueDepth
                    || (seen & (1u << index)) != 0)
                {
                    throw new InvalidDataException(
                        $"connection {seed}: reply {answered} is wrong (magic 0x{magic:x8}, {error}, handle {handle})");
                }
                seen |= 1u << index;
                answered++;
            }
        }
        return answered;
    }
}
