using System.Diagnostics;

namespace StoragePool.Storage.Tests.Support;

/// <summary>Runs the command-line tools a user would check with (stat, du, cp, mount).</summary>
internal static class Tool
{
    /// <summary>Runs the tool and returns its trimmed standard output; throws unless it exits with 0.</summary>
    public static string Run(string fileName, params string[] arguments)
    {
        var (exitCode, output, error) = Execute(fileName, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', arguments)} exited with {exitCode}: {error}");
        }
        return output;
    }

    /// <summary>Runs the tool and says whether it exited with 0.</summary>
    public static bool Succeeds(string fileName, params string[] arguments) =>
        Execute(fileName, arguments).ExitCode == 0;

    private static (int ExitCode, string Output, string Error) Execute(string fileName, string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Trim(), error.Result.Trim());
    }
}
