using NUnit.Framework.Interfaces;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>Prints the logs of the servers a test used, when (and only when) the test failed.</summary>
internal static class FailureLogs
{
    /// <param name="logs">each server's name and log; a null log is left out.</param>
    /// <param name="lastLines">print only this many lines of each log (0: all of it).</param>
    public static void ShowIfFailed(int lastLines, params (string Name, string? Log)[] logs)
    {
        if (TestContext.CurrentContext.Result.Outcome.Status != TestStatus.Failed)
        {
            return;
        }
        foreach (var (name, log) in logs)
        {
            if (log is null)
            {
                continue;
            }
            var text = lastLines > 0 ? string.Join('\n', log.Split('\n').TakeLast(lastLines)) : log;
            TestContext.Out.WriteLine($"--- {name} log{(lastLines > 0 ? $" (last {lastLines} lines)" : string.Empty)}\n{text}");
        }
    }
}
