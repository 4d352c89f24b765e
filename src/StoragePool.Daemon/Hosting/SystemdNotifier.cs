using StoragePool.Interop;

namespace StoragePool.Daemon.Hosting;

/// <summary>sd_notify READY/STATUS/STOPPING, when systemd asked for it (NOTIFY_SOCKET set); otherwise nothing.</summary>
internal static class SystemdNotifier
{
    public static void Notify(string state)
    {
        if (Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 })
        {
            Interop.Interop.SdDaemon.Notify(0, state);
        }
    }
}
