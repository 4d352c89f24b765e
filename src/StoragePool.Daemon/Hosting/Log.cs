namespace StoragePool.Daemon.Hosting;

internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "storagepoold {Version} serving the REST API on {Socket}{Tcp}; data in {DataDir}")]
    public static partial void Serving(this ILogger logger, string version, string socket, string tcp, string dataDir);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Generated an API token in {Path}; the CLI reads it from {TokenFile} as root")]
    public static partial void TokenGenerated(this ILogger logger, string path, string tokenFile);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "First start: created store 'local' at {Path} and pool 'default' on it")]
    public static partial void DefaultPoolCreated(this ILogger logger, string path);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "First start: could not create the default store and pool: {Reason}")]
    public static partial void DefaultPoolFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "storagepoold stopping")]
    public static partial void Stopping(this ILogger logger);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Removed a stale API socket {Socket} left by an earlier run")]
    public static partial void StaleSocketRemoved(this ILogger logger, string socket);
}
