using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>sd-daemon(3): service notification to systemd (does nothing unless NOTIFY_SOCKET is set).</summary>
    internal static partial class SdDaemon
    {
        private const string Lib = "libsystemd.so.0";

        /// <returns>&gt; 0 sent, 0 when systemd did not ask (no NOTIFY_SOCKET), &lt; 0 -errno.</returns>
        [LibraryImport(Lib, EntryPoint = "sd_notify", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Notify(int unsetEnvironment, string state);
    }
}
