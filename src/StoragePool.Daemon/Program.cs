using System.CommandLine;
using StoragePool.Core.Errors;
using StoragePool.Daemon.Hosting;

namespace StoragePool.Daemon;

internal static class Program
{
    private const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static async Task<int> Main(string[] args)
    {
        // Everything the daemon creates is its user's alone unless it says otherwise: metadata (SQLite makes its files
        // with the default mode), journals, logs, stores' files. The sockets and the runtime directory that QEMU must
        // reach are given their modes where they are made.
        _ = Interop.Interop.Libc.SetFileCreationMask(0x3f); // 077
        // Socket continuations run on the epoll thread instead of hopping to the thread pool: NBD at
        // queue depth 32 is thread hops more than syscalls (docs/benchmarks.md). The runtime reads this
        // once, when the first socket is made, so it is set before anything else. Safe here because no
        // socket continuation of ours blocks: the NBD server hands requests to the pool; Kestrel runs
        // requests on the pool; the NBD export lookup, the transfer data channel's chunk writes and a copy's
        // calls to its peer leave the event thread first (Core/Threading/EventThread.cs; tested with these
        // settings in StoragePool.Transfer.Tests).
        // Set the variable to 0 to turn it off.
        if (Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
        }
        var config = new Option<string?>("--config") { Description = "JSON config file (default /etc/storagepool/storagepoold.json as root, ~/.config/storagepool/storagepoold.json otherwise)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "where metadata and the default store live (default /var/lib/storagepool as root, ~/.local/share/storagepool otherwise)" };
        var apiSocket = new Option<string?>("--api-socket") { Description = "unix socket of the REST API (default /run/storagepool/api.sock as root, $XDG_RUNTIME_DIR/storagepool/api.sock otherwise)" };
        var listen = new Option<string?>("--listen") { Description = "also serve the REST API on TCP, ADDR:PORT (e.g. 10.0.0.2:7100); every call needs the token" };
        var noDefaultPool = new Option<bool>("--no-default-pool") { Description = "on first start, do not create store 'local' under the data directory and pool 'default' on it" };
        var nbdSocket = new Option<string?>("--nbd-socket") { Description = "unix socket of the NBD server (default /run/storagepool/nbd.sock as root, $XDG_RUNTIME_DIR/storagepool/nbd.sock otherwise)" };
        var nbdSocketGroup = new Option<string?>("--nbd-socket-group") { Description = "the group that may connect to the NBD socket, as the VMs' QEMU must (default as root: libvirt-qemu, or qemu, whichever exists)" };
        var nbdListen = new Option<string?>("--nbd-listen") { Description = "also serve NBD on TCP, ADDR:PORT (e.g. 10.0.0.2:10809); TLS is required unless the address is loopback or --nbd-insecure is given" };
        var nbdInsecure = new Option<bool>("--nbd-insecure") { Description = "allow NBD on a non-loopback TCP address without TLS" };
        var nbdTlsCert = new Option<string?>("--nbd-tls-cert") { Description = "PEM certificate (chain) for NBD over TCP (STARTTLS)" };
        var nbdTlsKey = new Option<string?>("--nbd-tls-key") { Description = "PEM private key of --nbd-tls-cert" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain): REST on --listen becomes HTTPS and the transfer data channel TLS" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert" };
        var tlsCa = new Option<string?>("--tls-ca") { Description = "PEM CA that other daemons' certificates must chain to, for copies to https:// addresses (default: the system's)" };
        var transferListen = new Option<string?>("--transfer-listen") { Description = "TCP ADDR:PORT where transfers from other daemons send their data (default: --listen's address, its port + 1; port 0 picks a free one)" };
        var fuseMount = new Option<string?>("--fuse-mount") { Description = "where the FUSE file system is mounted, DIR/POOL/volumes/NAME being each volume's file (default /run/storagepool/fs as root, $XDG_RUNTIME_DIR/storagepool/fs otherwise); libvirt's dir pools point into it" };
        var noFuse = new Option<bool>("--no-fuse") { Description = "do not mount the FUSE file system (volumes are then reached over NBD only)" };
        var fuseAllowShrink = new Option<bool>("--fuse-allow-shrink") { Description = "let truncate(2) on a volume's file shrink a volume that holds data (otherwise only empty volumes shrink that way)" };
        var libvirtUri = new Option<string?>("--libvirt-uri") { Description = "the libvirt daemon in which each pool is defined as a dir pool over its FUSE directory (default qemu:///system)" };
        var noLibvirt = new Option<bool>("--no-libvirt") { Description = "do not define libvirt pools (print one with 'storagepool pool libvirt-xml POOL' instead)" };
        var transferBandwidth = new Option<string?>("--transfer-bandwidth") { Description = "cap on all transfer jobs of this daemon together, bytes per second (e.g. 500M)" };
        var root = new RootCommand(
            "storagepoold: the StoragePool daemon of this node. Runs in the foreground; serves the REST API, " +
            "the D-Bus API (org.storagepool.StoragePool1) and /metrics.\n\n" +
            "The API token comes from the config file's \"token\", or STORAGEPOOL_TOKEN, or is generated into the data directory; " +
            "it is copied to api.token beside the API socket (mode 0600) for the local CLI.\n\n" +
            "Example:\n  storagepoold --data-dir /var/lib/storagepool --listen 10.0.0.2:7100 \\\n" +
            "      --nbd-listen 10.0.0.2:10809 --nbd-tls-cert /etc/storagepool/nbd.crt --nbd-tls-key /etc/storagepool/nbd.key")
        {
            config, dataDir, apiSocket, listen, noDefaultPool, nbdSocket, nbdSocketGroup, nbdListen, nbdInsecure, nbdTlsCert, nbdTlsKey, transferBandwidth, transferListen, tlsCert, tlsKey, tlsCa,
            fuseMount, noFuse, fuseAllowShrink, libvirtUri, noLibvirt,
        };
        root.SetAction(async (result, ct) =>
        {
            try
            {
                var options = DaemonOptions.Resolve(result.GetValue(config), new DaemonConfig(
                    DataDir: result.GetValue(dataDir),
                    ApiSocket: result.GetValue(apiSocket),
                    Listen: result.GetValue(listen),
                    CreateDefaultPool: result.GetValue(noDefaultPool) ? false : null,
                    NbdSocket: result.GetValue(nbdSocket),
                    NbdSocketGroup: result.GetValue(nbdSocketGroup),
                    NbdListen: result.GetValue(nbdListen),
                    NbdInsecure: result.GetValue(nbdInsecure) ? true : null,
                    NbdTlsCertificate: result.GetValue(nbdTlsCert),
                    NbdTlsKey: result.GetValue(nbdTlsKey),
                    TransferBandwidth: result.GetValue(transferBandwidth),
                    TransferListen: result.GetValue(transferListen),
                    TlsCertificate: result.GetValue(tlsCert),
                    TlsKey: result.GetValue(tlsKey),
                    TlsCa: result.GetValue(tlsCa),
                    Fuse: result.GetValue(noFuse) ? false : null,
                    FuseMount: result.GetValue(fuseMount),
                    FuseAllowShrink: result.GetValue(fuseAllowShrink) ? true : null,
                    LibvirtUri: result.GetValue(libvirtUri),
                    Libvirt: result.GetValue(noLibvirt) ? false : null));
                return await DaemonHost.RunAsync(options, ct);
            }
            catch (StoragePoolException e)
            {
                await Console.Error.WriteLineAsync($"storagepoold: error: {e.Message}");
                return e.Code.ExitCode();
            }
        });
        // The host handles SIGTERM/SIGINT itself and stops gracefully.
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }
}
