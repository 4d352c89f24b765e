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
