namespace StoragePool.Daemon.Fuse;

internal static partial class Log
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "FUSE file system mounted on {Mount} ({Threads} request threads)")]
    public static partial void FuseMounted(this ILogger logger, string mount, uint threads);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "FUSE file system not mounted on {Mount}: {Reason}; volumes are reachable over NBD only")]
    public static partial void FuseUnavailable(this ILogger logger, string mount, string reason);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "FUSE file system unmounted from {Mount}")]
    public static partial void FuseUnmounted(this ILogger logger, string mount);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "A stale FUSE mount on {Mount} (left by a daemon that did not stop cleanly) was detached")]
    public static partial void FuseStaleMountDetached(this ILogger logger, string mount);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "FUSE {Operation} of {Path} refused: {Reason}")]
    public static partial void FuseRefused(this ILogger logger, string operation, string path, string reason);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "FUSE {Operation} of {Path} failed")]
    public static partial void FuseFailed(this ILogger logger, string operation, string path, Exception exception);
}
