namespace StoragePool.Daemon.Libvirt;

internal static partial class Log
{
    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Connected to libvirt at {Uri}; pools are shown there as dir pools")]
    public static partial void LibvirtConnected(this ILogger logger, string uri);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Warning, Message = "No libvirt pools at {Uri} for now: {Reason}; trying again every {Seconds} s")]
    public static partial void LibvirtUnreachable(this ILogger logger, string uri, string reason, double seconds);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Lost libvirt at {Uri} ({Reason}); reconnecting")]
    public static partial void LibvirtLost(this ILogger logger, string uri, string reason);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Information, Message = "libvirt pool {Pool} defined, started and autostarted on {Target}")]
    public static partial void LibvirtPoolDefined(this ILogger logger, string pool, string target);

    [LoggerMessage(EventId = 8011, Level = LogLevel.Information, Message = "libvirt pool {Pool} undefined")]
    public static partial void LibvirtPoolUndefined(this ILogger logger, string pool);

    [LoggerMessage(EventId = 8012, Level = LogLevel.Warning, Message = "libvirt pool {Pool}: {Reason}")]
    public static partial void LibvirtPoolFailed(this ILogger logger, string pool, string reason);

    [LoggerMessage(EventId = 8013, Level = LogLevel.Warning, Message = "libvirt event handling failed: {Reason}")]
    public static partial void LibvirtEventFailed(this ILogger logger, string reason);
}
