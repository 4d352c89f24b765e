using Microsoft.Extensions.Logging;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Storage;

namespace StoragePool.Cluster.Control;

internal static partial class Log
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Store {Store} added at {Path}")]
    public static partial void StoreAdded(this ILogger logger, string store, string path);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Store {Store} is unavailable: {Reason}")]
    public static partial void StoreUnavailable(this ILogger logger, string store, string reason);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Pool {Pool} created on store {Store}")]
    public static partial void PoolCreated(this ILogger logger, string pool, string store);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Pool {Pool} deleted")]
    public static partial void PoolDeleted(this ILogger logger, string pool);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "Volume {Volume} created, {SizeBytes} bytes")]
    public static partial void VolumeCreated(this ILogger logger, VolumeRef volume, long sizeBytes);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "Volume {Volume} resized to {SizeBytes} bytes")]
    public static partial void VolumeResized(this ILogger logger, VolumeRef volume, long sizeBytes);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Information, Message = "Volume {Volume} deleted")]
    public static partial void VolumeDeleted(this ILogger logger, VolumeRef volume);

    [LoggerMessage(EventId = 2023, Level = LogLevel.Information, Message = "Snapshot {Snapshot} cloned to {Volume} by {Method}")]
    public static partial void VolumeCloned(this ILogger logger, SnapshotRef snapshot, VolumeRef volume, CopyMethod method);

    [LoggerMessage(EventId = 2024, Level = LogLevel.Information, Message = "Volume reverted to {Snapshot}")]
    public static partial void VolumeReverted(this ILogger logger, SnapshotRef snapshot);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Information, Message = "Snapshot {Snapshot} created by {Method}")]
    public static partial void SnapshotCreated(this ILogger logger, SnapshotRef snapshot, CopyMethod method);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Information, Message = "Snapshot {Snapshot} deleted")]
    public static partial void SnapshotDeleted(this ILogger logger, SnapshotRef snapshot);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Warning, Message = "Recovered volume {Pool}/{Volume}, left {State} by an interrupted operation")]
    public static partial void RecoveredVolume(this ILogger logger, string pool, string volume, ObjectState state);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Warning, Message = "Recovered snapshot {Pool}/{Volume}@{Snapshot}, left {State} by an interrupted operation")]
    public static partial void RecoveredSnapshot(this ILogger logger, string pool, string volume, string snapshot, ObjectState state);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Warning, Message = "Store {Store} holds data {Id} that no volume or snapshot names; left in place")]
    public static partial void UnknownData(this ILogger logger, string store, string id);

    [LoggerMessage(EventId = 2044, Level = LogLevel.Warning,
        Message = "Store {Store} was removed, but its directories in {Path} were left: {Reason}")]
    internal static partial void StoreLayoutLeft(this ILogger logger, string store, string path, string reason);

    [LoggerMessage(EventId = 2043, Level = LogLevel.Warning,
        Message = "Metadata record {Key} cannot be served: {Reason}. It was moved to {Quarantine} and is left out of every " +
            "list; its data, if any, stays in its store")]
    internal static partial void RecordQuarantined(this ILogger logger, string key, string reason, string quarantine);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Information, Message = "Volume {Volume} receives transfer {Transfer} ({Start})")]
    public static partial void ReceiveStarted(this ILogger logger, VolumeRef volume, string transfer, ReceiveStart start);
}
