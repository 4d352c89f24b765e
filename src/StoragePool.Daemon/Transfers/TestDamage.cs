using System.Globalization;

namespace StoragePool.Daemon.Transfers;

/// <summary>
/// Tests only: <c>STORAGEPOOL_TEST_DAMAGE_CHUNK=INDEX:TIMES</c> makes this daemon's transfers flip a byte of chunk
/// INDEX after checksumming it, on its first TIMES sends, as a bad link would. Unset in production.
/// </summary>
internal static class TestDamage
{
    public const string EnvironmentVariable = "STORAGEPOOL_TEST_DAMAGE_CHUNK";

    public static Func<long, int, bool>? FromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (value?.Split(':') is not [var index, var times]
            || !long.TryParse(index, CultureInfo.InvariantCulture, out var chunk)
            || !int.TryParse(times, CultureInfo.InvariantCulture, out var count))
        {
            return null;
        }
        return (i, attempt) => i == chunk && attempt < count;
    }
}
