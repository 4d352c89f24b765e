using StoragePool.Cluster.Control;
using StoragePool.Core.Naming;
using StoragePool.Transfer.Chunks;

namespace StoragePool.Daemon.Transfers;

internal static partial class Log
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Transfer {Transfer} from {Source} into {Target} ({Start}; {Known} chunks already here)")]
    public static partial void TransferReceiving(this ILogger logger, string transfer, string source, VolumeRef target, ReceiveStart start, int known);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "Transfer {Transfer} into {Target} complete: {Bytes} bytes written, digest {Digest}")]
    public static partial void TransferReceived(this ILogger logger, string transfer, VolumeRef target, long bytes, ChunkChecksum digest);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "Transfer {Transfer} aborted by its sender; {Target} deleted")]
    public static partial void TransferAborted(this ILogger logger, string transfer, VolumeRef target);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Job {Job} ({Kind}) started: {Source} -> {Destination}")]
    public static partial void JobStarted(this ILogger logger, string job, string kind, string source, string destination);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Job {Job} finished: {State}")]
    public static partial void JobFinished(this ILogger logger, string job, string state);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "Job {Job} failed: {Reason}")]
    public static partial void JobFailed(this ILogger logger, string job, string reason);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Warning, Message = "Job {Job} was running when the daemon stopped; it is interrupted (storagepool job resume {Job})")]
    public static partial void JobInterrupted(this ILogger logger, string job);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Information, Message = "Transfer data channel listening on {EndPoint}")]
    public static partial void DataChannelListening(this ILogger logger, System.Net.IPEndPoint endPoint);
}
