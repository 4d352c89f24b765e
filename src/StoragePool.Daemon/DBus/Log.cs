using Microsoft.Extensions.Logging;

namespace StoragePool.Daemon.DBus;

internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "D-Bus API serving {Name} on {Address} as {UniqueName}")]
    public static partial void Serving(this ILogger logger, string name, string address, string uniqueName);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "D-Bus API disabled: {Reason}; storagepoold runs on without it")]
    public static partial void Disabled(this ILogger logger, string reason);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "D-Bus connection lost ({Reason}); the D-Bus API is off until storagepoold restarts")]
    public static partial void ConnectionLost(this ILogger logger, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "D-Bus API stopped")]
    public static partial void Stopped(this ILogger logger);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Debug, Message = "D-Bus call {Interface}.{Member} on {Path} from {Sender}")]
    public static partial void CallReceived(this ILogger logger, string @interface, string member, string path, string sender);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "D-Bus call {Interface}.{Member} on {Path} from uid {Uid} ({Sender}) refused: only root may change the pool")]
    public static partial void CallerRefused(this ILogger logger, string @interface, string member, string path, uint uid, string sender);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Error, Message = "D-Bus call {Interface}.{Member} on {Path} failed")]
    public static partial void MethodFailed(this ILogger logger, string @interface, string member, string path, Exception exception);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Error, Message = "D-Bus: cannot send the reply or signal {Member}")]
    public static partial void SendFailed(this ILogger logger, string member, Exception exception);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Error, Message = "D-Bus thread failed")]
    public static partial void BusThreadFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "D-Bus change signals stopped: watching changes failed")]
    public static partial void WatchFailed(this ILogger logger, Exception exception);
}
