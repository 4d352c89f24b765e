namespace StoragePool.Api;

// Request bodies of the REST API (snake_case JSON). The routes are in ApiRoutes; errors are
// problem+json documents (see Problem).

public sealed record AddStoreRequest(string Name, string Path, double? OvercommitRatio = null, double? WatermarkPercent = null);

public sealed record CreatePoolRequest(string Name, string Store);

public sealed record CreateVolumeRequest(string Name, long SizeBytes);

public sealed record ResizeVolumeRequest(long SizeBytes, bool AllowShrink = false);

public sealed record CreateSnapshotRequest(string Name);

/// <summary>Clone a snapshot of this volume into a new volume <c>Pool/Name</c>.</summary>
public sealed record CloneVolumeRequest(string Snapshot, string Pool, string Name);

public sealed record RevertVolumeRequest(string Snapshot);

/// <summary>RFC 9457 problem document, plus the stable error <paramref name="Code"/> (snake_case, e.g. <c>volume_not_found</c>).</summary>
public sealed record Problem(string Type, string Title, int Status, string Detail, string Code);

/// <summary>
/// Starts a job (<c>POST /v1/jobs</c>). <c>copy</c>: <paramref name="Source"/> (<c>pool/vol</c> or <c>pool/vol@snap</c>)
/// to the daemon at <paramref name="To"/> as <paramref name="Target"/> (default: the source's name);
/// <c>export</c>: <paramref name="Source"/> to the stream file <paramref name="Path"/>;
/// <c>import</c>: the stream file <paramref name="Path"/> into the new volume <paramref name="Target"/>.
/// A copy that matches an interrupted or failed one (same source, destination and target) resumes it.
/// </summary>
public sealed record StartJobRequest(
    string Kind,
    string? Source = null,
    string? Target = null,
    string? To = null,
    string? Path = null,
    int? Streams = null,
    string? Compress = null,
    long? BandwidthBytesPerSecond = null,
    int? ChunkSizeBytes = null,
    bool Incremental = false,
    bool Overwrite = false);

/// <summary>Daemon to daemon: the first call of a transfer (or of its resumption), <c>POST /v1/transfers</c>.</summary>
public sealed record BeginTransferRequest(
    string TransferId, string Source, string Target, long VolumeSize, int ChunkSize, bool Incremental, bool Overwrite, long DataBytes);

/// <summary>
/// The receiver's answer: its chunk checksums follow at <c>GET /v1/transfers/{id}/known</c>; chunks go to its data
/// channel, TCP port <paramref name="DataPort"/> on the same host, in TLS when <paramref name="DataTls"/>.
/// </summary>
public sealed record TransferSession(string TransferId, string Target, string Start, long KnownChunks, int DataPort, bool DataTls);

public sealed record CompleteTransferRequest(string Digest);

public sealed record TransferCompletion(long BytesWritten, long AllocatedBytes, string Digest);
