using System.Net.Sockets;
using StoragePool.Api;
using StoragePool.Cluster.Control;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Errors;
using StoragePool.Daemon.DBus;
using StoragePool.Daemon.Fuse;
using StoragePool.Daemon.Libvirt;
using StoragePool.Daemon.Metrics;
using StoragePool.Daemon.Nbd;
using StoragePool.Daemon.Rest;
using StoragePool.Daemon.Transfers;

namespace StoragePool.Daemon.Hosting;

/// <summary>Builds and runs the daemon: metadata, recovery, then the REST, D-Bus and metrics surfaces.</summary>
internal static class DaemonHost
{
    public static async Task<int> RunAsync(DaemonOptions options, CancellationToken ct)
    {
        PrivateDirectory(options.DataDir);
        foreach (var file in Directory.EnumerateFiles(options.DataDir, Path.GetFileName(options.MetadataPath) + "*"))
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite); // an older build made them 0644
        }
        RuntimeDirectory(Path.GetDirectoryName(options.ApiSocket)!);
        var staleSocket = await ClaimSocketAsync(options.ApiSocket, ct);
        var staleNbdSocket = await ClaimSocketAsync(options.Nbd.Socket, ct);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "storagepoold",
            // Not the data directory: the host would watch its content root recursively with inotify
            // (for appsettings reloads) and wake up on every write to every volume (measured: 4× the
            // CPU per 4 KiB NBD write). We read no appsettings, so nothing needs watching.
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        ConfigureLogging(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(options.ApiSocket);
            if (options.Listen is { } endpoint)
            {
                var certificate = options.Tls?.LoadCertificate();
                kestrel.Listen(endpoint, listen =>
                {
                    if (certificate is not null)
                    {
                        listen.UseHttps(certificate);
                    }
                });
            }
        });

        await using var metadata = await SqliteMetadataStore.OpenAsync(options.MetadataPath, ct);
        var fresh = await metadata.GetRevisionAsync(ct) == 0;
        builder.Services.AddSingleton<IMetadataStore>(metadata);
        builder.Services.AddSingleton(ProcessCrashPoints.FromEnvironment());
        builder.Services.AddSingleton<OperationMetrics>();
        builder.Services.AddSingleton(sp => new PoolManager(sp.GetRequiredService<IMetadataStore>(),
            sp.GetRequiredService<ILogger<PoolManager>>(), sp.GetRequiredService<OperationMetrics>(), sp.GetRequiredService<CrashPoints>(),
            options.DataDir));
        builder.Services.AddSingleton<PrometheusExporter>();
        // a query or route value that does not bind (?wait_ms=abc) throws, to be answered as a problem like any other error
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddHostedService<DBusService>();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<NbdExports>();
        builder.Services.AddSingleton<NbdService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NbdService>());
        builder.Services.AddSingleton<ReceiveSessions>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReceiveSessions>());
        builder.Services.AddSingleton<FuseService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FuseService>());
        builder.Services.AddSingleton<LibvirtPools>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LibvirtPools>());
        builder.Services.AddSingleton<JobService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobService>());

        await using var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("storagepoold");
        if (staleSocket)
        {
            logger.StaleSocketRemoved(options.ApiSocket);
        }
        if (staleNbdSocket)
        {
            logger.StaleSocketRemoved(options.Nbd.Socket);
        }
        app.Services.GetRequiredService<PrometheusExporter>(); // listen before the first operation, not at the first scrape
        var pool = app.Services.GetRequiredService<PoolManager>();
        await pool.RecoverAsync(ct);
        if (fresh && options.CreateDefaultPool)
        {
            await CreateDefaultPoolAsync(pool, options, logger, ct);
        }

        app.UseTokenAndProblems(options.Token);
        app.MapRestApi();
        var scheme = options.Tls?.Certificate is null ? "http" : "https";
        var tcp = options.Listen is { } endpoint ? $" and {scheme}://{endpoint}" : string.Empty;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            File.SetUnixFileMode(options.ApiSocket,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            var tokenFile = DefaultPaths.TokenFileFor(options.ApiSocket);
            DaemonOptions.WritePrivateFile(tokenFile, options.Token);
            if (options.TokenGenerated)
            {
                logger.TokenGenerated(options.GeneratedTokenPath, tokenFile);
            }
            logger.Serving(PoolManager.Version, options.ApiSocket, tcp, options.DataDir);
            SystemdNotifier.Notify($"READY=1\nSTATUS=serving on {options.ApiSocket}");
        });
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            logger.Stopping();
            SystemdNotifier.Notify("STOPPING=1");
        });
        await app.RunAsync(ct);
        return 0;
    }

    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 })
        {
            logging.AddSystemdConsole(o => o.IncludeScopes = false); // <N> priority prefixes journald understands
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
        }
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
    }

    /// <summary>Refuses to start when another daemon answers on the socket; removes a stale socket file.</summary>
    private static async Task<bool> ClaimSocketAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            return false;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
        }
        catch (SocketException)
        {
            File.Delete(path);
            return true;
        }
        throw new StoragePoolException(ErrorCode.Conflict,
            $"another storagepoold is already serving {path}; stop it first or use --api-socket");
    }

    /// <summary>The data directory: the daemon's user's alone, made so or taken back to that.</summary>
    private static void PrivateDirectory(string path)
    {
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// A directory others pass through to reach a socket or mount point in it (QEMU, libvirt): 0755 when the daemon
    /// makes it (one it finds is the admin's and keeps its mode). What is in it keeps its own modes.
    /// </summary>
    internal static void RuntimeDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            const UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            Directory.CreateDirectory(path);
            File.SetUnixFileMode(path, mode); // mkdir's mode is masked by the umask: set it after
        }
    }

    private static async Task CreateDefaultPoolAsync(PoolManager pool, DaemonOptions options, ILogger logger, CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(options.DefaultStorePath);
            await pool.AddStoreAsync("local", options.DefaultStorePath, null, null, ct);
            await pool.CreatePoolAsync("default", "local", ct);
            logger.DefaultPoolCreated(options.DefaultStorePath);
        }
        catch (StoragePoolException e)
        {
            logger.DefaultPoolFailed(e.Message);
        }
    }
}
