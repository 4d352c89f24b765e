using StoragePool.Cluster.Control;

namespace StoragePool.Daemon.Hosting;

/// <summary>
/// For crash tests only: <c>STORAGEPOOL_TEST_CRASH_AT=STEP</c> kills the daemon with SIGKILL when an
/// operation reaches STEP (see <see cref="CrashPoints.All"/>), exactly as a power cut would stop it.
/// </summary>
internal sealed class ProcessCrashPoints(string step) : CrashPoints
{
    public const string EnvironmentVariable = "STORAGEPOOL_TEST_CRASH_AT";

    public static CrashPoints FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } step ? new ProcessCrashPoints(step) : None;

    public override void Reached(string step)
    {
        if (step == Step)
        {
            Console.Error.WriteLine($"storagepoold: {EnvironmentVariable}={step}: killing this process");
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            self.Kill(); // SIGKILL: no finally blocks, no flushes, like a power cut
        }
    }

    private string Step { get; } = step;
}
