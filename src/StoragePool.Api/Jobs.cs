namespace StoragePool.Api;

public static class JobKinds
{
    public const string Copy = "copy";
    public const string Export = "export";
    public const string Import = "import";
}

public static class JobStates
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>The daemon stopped while the job ran; <c>job resume</c> (or the same command again) continues it.</summary>
    public const string Interrupted = "interrupted";

    public static bool IsFinal(string state) => state is Succeeded or Cancelled;
}

/// <summary>A job's counters (see TransferProgress): what <c>job show</c> and progress bars print.</summary>
public sealed record JobProgress(
    long BytesTotal,
    long BytesDone,
    long BytesRead,
    long BytesSent,
    long BytesUnchanged,
    long BytesWritten,
    long ChunksSent,
    long ChunksZero,
    long ChunksUnchanged,
    long Retries,
    double ElapsedSeconds)
{
    public double BytesPerSecond => ElapsedSeconds > 0 ? BytesDone / ElapsedSeconds : 0;

    public double? EtaSeconds => BytesPerSecond > 0 && BytesTotal >= BytesDone ? (BytesTotal - BytesDone) / BytesPerSecond : null;
}

/// <summary>A transfer job: a copy to another daemon, an export to a file or an import from one.</summary>
public sealed record JobInfo(
    string Id,
    string Kind,
    string State,
    string Source,
    string Target,
    string? To,
    string? Path,
    int Streams,
    string Compression,
    long? BandwidthBytesPerSecond,
    bool Incremental,
    bool Overwrite,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    JobProgress Progress,
    string? Snapshot = null,
    string? Digest = null,
    long? AllocatedBytes = null,
    bool Resumed = false,
    string? ErrorCode = null,
    string? Error = null,
    int? ChunkSizeBytes = null);
