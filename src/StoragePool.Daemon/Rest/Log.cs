namespace StoragePool.Daemon.Rest;

internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "REST {Method} {Path} failed")]
    public static partial void RequestFailed(this ILogger logger, string method, PathString path, Exception exception);
}
