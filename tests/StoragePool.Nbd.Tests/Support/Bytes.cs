namespace StoragePool.Nbd.Tests.Support;

internal static class Bytes
{
    /// <summary>Byte arrays compared fast (NUnit compares element by element), failing with the first difference.</summary>
    public static void AssertSame(ReadOnlySpan<byte> actual, ReadOnlySpan<byte> expected, string what)
    {
        var length = Math.Min(actual.Length, expected.Length);
        var at = actual[..length].CommonPrefixLength(expected[..length]);
        if (at < length || actual.Length != expected.Length)
        {
            Assert.Fail($"{what}: {actual.Length} bytes, expected {expected.Length}; first difference at {at}" +
                (at < length ? $": {actual[at]} instead of {expected[at]}" : ""));
        }
    }
}
