using System.Globalization;
using System.Text;
using StoragePool.Core.Errors;

namespace StoragePool.Core.Naming;

/// <summary>What a name is for; used in error messages.</summary>
public enum NameKind
{
    Store,
    Pool,
    Volume,
    Snapshot,
}

/// <summary>
/// Name rules shared by stores, pools, volumes and snapshots: letters, digits, '.', '_' and '-',
/// 1 to 64 characters, not starting with '.' or '-'.
/// </summary>
public static class Names
{
    public const int MaxLength = 64;

    public static string Describe(this NameKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Returns null when valid, else the reason (a sentence fragment).</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is empty";
        }
        if (name.Length > MaxLength)
        {
            return $"is {name.Length} characters long; the limit is {MaxLength}";
        }
        if (name[0] is '.' or '-')
        {
            return $"starts with '{name[0]}'";
        }
        foreach (var c in name)
        {
            if (!IsAllowed(c))
            {
                return char.IsControl(c) || char.IsWhiteSpace(c)
                    ? $"contains the character U+{(int)c:X4}"
                    : $"contains '{c}'";
            }
        }
        return null;
    }

    public static bool IsValid(string? name) => Problem(name) is null;

    /// <summary>
    /// Any text someone gave as a name, fit to print in a message or a log line: control characters, quotes and
    /// backslashes escaped (a newline cannot start a forged line), and a long one cut after <paramref name="limit"/>
    /// characters (a name's limit unless told).
    /// </summary>
    public static string Display(string? name, int limit = MaxLength)
    {
        if (name is null)
        {
            return "(none)";
        }
        var text = new StringBuilder(Math.Min(name.Length, limit) + 2);
        foreach (var c in name.Length > limit ? name[..limit] : name)
        {
            _ = c switch
            {
                '\\' => text.Append("\\\\"),
                '\'' => text.Append("\\'"),
                '\n' => text.Append("\\n"),
                '\r' => text.Append("\\r"),
                '\t' => text.Append("\\t"),
                _ when char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' =>
                    text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => text.Append(c),
            };
        }
        if (name.Length > limit)
        {
            text.Append(CultureInfo.InvariantCulture, $"... ({name.Length} characters)");
        }
        return text.ToString();
    }

    /// <summary>Throws <see cref="ErrorCode.InvalidName"/> unless <paramref name="name"/> is valid.</summary>
    public static string Validate(NameKind kind, string? name)
    {
        var problem = Problem(name);
        if (problem is not null)
        {
            throw new StoragePoolException(ErrorCode.InvalidName,
                $"{kind.Describe()} name '{Display(name)}' {problem}; use letters, digits, '.', '_' and '-' " +
                $"(at most {MaxLength}, not starting with '.' or '-')");
        }
        return name!;
    }

    private static bool IsAllowed(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
}
