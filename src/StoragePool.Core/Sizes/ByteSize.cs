using System.Globalization;
using System.Text.RegularExpressions;
using StoragePool.Core.Errors;

namespace StoragePool.Core.Sizes;

/// <summary>
/// Sizes as people write them: <c>512M</c>, <c>10G</c>, <c>1.5T</c>, <c>10GiB</c>, <c>4096</c>.
/// Every unit is a power of 1024 (<c>G</c>, <c>GB</c> and <c>GiB</c> all mean 2^30).
/// </summary>
public static partial class ByteSize
{
    public const long KiB = 1L << 10;
    public const long MiB = 1L << 20;
    public const long GiB = 1L << 30;
    public const long TiB = 1L << 40;
    public const long PiB = 1L << 50;

    private static readonly Dictionary<string, long> Units = new()
    {
        ["K"] = KiB,
        ["M"] = MiB,
        ["G"] = GiB,
        ["T"] = TiB,
        ["P"] = PiB,
    };

    /// <summary>Parses a size; throws <see cref="ErrorCode.InvalidSize"/> with a reason.</summary>
    public static long Parse(string text)
    {
        if (TryParse(text, out var bytes, out var problem))
        {
            return bytes;
        }
        throw new StoragePoolException(ErrorCode.InvalidSize,
            $"size '{text}' {problem}; write a number with an optional unit, e.g. 512M, 10G, 1.5T or 10GiB");
    }

    public static bool TryParse(string? text, out long bytes, out string problem)
    {
        bytes = 0;
        var s = text?.Trim() ?? string.Empty;
        if (s.Length == 0)
        {
            problem = "is empty";
            return false;
        }
        if (s[0] == '-')
        {
            problem = "is negative";
            return false;
        }
        var match = SizePattern().Match(s);
        if (!match.Success)
        {
            problem = "is not a size";
            return false;
        }
        var factor = match.Groups["unit"].Success
            ? Units[match.Groups["unit"].Value.ToUpperInvariant()]
            : 1;
        if (!decimal.TryParse(match.Groups["number"].Value, NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out var number)
            || number > long.MaxValue / factor)
        {
            problem = "is too large";
            return false;
        }
        bytes = (long)decimal.Ceiling(number * factor);
        problem = string.Empty;
        return true;
    }

    /// <summary>Formats bytes for people: <c>0 B</c>, <c>512 MiB</c>, <c>1.5 TiB</c>, <c>10.2 GiB</c>.</summary>
    public static string Format(long bytes)
    {
        if (bytes < 0)
        {
            return "-" + Format(-bytes);
        }
        if (bytes < KiB)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }
        string[] names = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        var i = -1;
        while (value >= 1024 && i < names.Length - 1)
        {
            value /= 1024;
            i++;
        }
        return value.ToString("0.##", CultureInfo.InvariantCulture) + " " + names[i];
    }

    // A number (digits, optionally with a fraction), then K/M/G/T/P, optionally followed by B or iB; or a plain B.
    [GeneratedRegex(@"^(?<number>\d+(\.\d+)?|\.\d+)\s*((?<unit>[KMGTP])(i?B)?|B)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();
}
