namespace StoragePool.Cluster.Control;

/// <summary>What a transfer's target was when the transfer began.</summary>
public enum ReceiveStart
{
    /// <summary>A new, empty volume.</summary>
    Created,

    /// <summary>The same transfer's target, left receiving by an interrupted run.</summary>
    Resumed,

    /// <summary>An existing volume, replaced (--overwrite).</summary>
    Overwriting,

    /// <summary>An existing volume, updated where it differs (--incremental).</summary>
    Updating,
}
