using System.Diagnostics;
using System.Globalization;
using StoragePool.Cluster.Metadata;
using StoragePool.Testing;
using static StoragePool.Cluster.Tests.Metadata.SqliteMetadataStoreTests;

namespace StoragePool.Cluster.Tests.Metadata;

/// <summary>
/// A real writer process (this test assembly run by <c>dotnet exec</c>, with <see cref="StartupHook"/> doing the work)
/// commits in a loop and is killed with SIGKILL at an arbitrary moment; the store must then open and hold
/// exactly the first R commits for some R no smaller than the number the writer acknowledged.
/// </summary>
public sealed class SqliteMetadataStoreCrashTests
{
    internal const string DatabaseVariable = "STORAGEPOOL_TEST_CRASH_WRITER_DB";
    private const int Slots = 5;
    private const int MaxCommits = 20_000;

    private TestDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TestDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase(20)]
    [TestCase(150)]
    [TestCase(400)]
    public async Task A_writer_killed_mid_stream_leaves_exactly_a_prefix_of_its_commits_including_every_acknowledged_one(int acknowledgedBeforeKill)
    {
        var path = _dir.File("meta.db");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            ArgumentList = { "exec", typeof(StartupHook).Assembly.Location },
            Environment = { ["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location, [DatabaseVariable] = path },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var writer = Process.Start(start)!;
        long acknowledged;
        try
        {
            do
            {
                var line = await writer.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new AssertionException($"the writer exited early: {await writer.StandardError.ReadToEndAsync(timeout.Token)}");
                acknowledged = long.Parse(line, CultureInfo.InvariantCulture);
            }
            while (acknowledged < acknowledgedBeforeKill);
        }
        finally
        {
            writer.Kill();
            await writer.WaitForExitAsync(timeout.Token);
        }

        await using var store = await SqliteMetadataStore.OpenAsync(path, timeout.Token);
        var revision = await store.GetRevisionAsync(timeout.Token);
        var items = (await store.RangeAsync("/crash/", timeout.Token)).Items;
        var history = await TakeAsync(store.WatchAsync("/crash/", 1, timeout.Token), 2 * (int)revision);

        Assert.That(revision, Is.GreaterThanOrEqualTo(acknowledged), "an acknowledged commit was lost");
        Assert.That(items.Select(Describe), Is.EqualTo(Expected(revision).Select(Describe)), $"the keys are not those after commit {revision}");
        Assert.That(history.Select(e => Describe(e.Kv)), Is.EqualTo(Enumerable.Range(1, (int)revision).SelectMany(Commit).Select(Describe)));
    }

    /// <summary>Run in the writer process: commits 1, 2, 3, ... and prints each number once it is acknowledged.</summary>
    internal static async Task WriteUntilKilledAsync(string path)
    {
        await using var store = await SqliteMetadataStore.OpenAsync(path);
        for (var i = 1; i <= MaxCommits; i++)
        {
            await store.TxnAsync(Transaction.Of([.. Commit(i).Select(kv => new Op.Put(kv.Key, kv.Value))]));
            Console.WriteLine(i);
        }
    }

    /// <summary>Commit <paramref name="i"/> writes i to /crash/last and to one of a few slots; values are padded so the WAL fills and checkpoints.</summary>
    private static KeyValue[] Commit(int i)
    {
        var value = Bytes(i.ToString("D2000", CultureInfo.InvariantCulture));
        return
        [
            new KeyValue("/crash/last", value, 1, i, i),
            new KeyValue($"/crash/slot{i % Slots}", value, i % Slots == 0 ? Slots : i % Slots, i, ((i - 1) / Slots) + 1),
        ];
    }

    /// <summary>The keys after the first <paramref name="revision"/> commits, in key order.</summary>
    private static IEnumerable<KeyValue> Expected(long revision) =>
        Enumerable.Range(Math.Max(1, (int)revision - Slots + 1), Math.Min(Slots, (int)revision))
            .Select(i => Commit(i)[1])
            .Append(Commit((int)revision)[0])
            .OrderBy(kv => kv.Key, StringComparer.Ordinal);

    private static string Describe(KeyValue kv) =>
        $"{kv.Key}={long.Parse(Text(kv.Value), CultureInfo.InvariantCulture)} create {kv.CreateRevision} mod {kv.ModRevision} v{kv.Version}";
}
