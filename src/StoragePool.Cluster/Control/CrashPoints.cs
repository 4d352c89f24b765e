namespace StoragePool.Cluster.Control;

/// <summary>
/// Named steps inside multi-step operations, where a test can stop the operation as a crash
/// would. The daemon turns <c>STORAGEPOOL_TEST_CRASH_AT=STEP</c> into a real process abort at
/// that step; unit tests throw instead. In normal runs it does nothing.
/// </summary>
public class CrashPoints
{
    public static readonly CrashPoints None = new();

    /// <summary>Every step, in the order operations pass them.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        VolumeCreateRecorded, VolumeCreateData,
        VolumeDeleteMarked, VolumeDeleteData,
        VolumeResizeMarked, VolumeResizeData,
        SnapshotCreateRecorded, SnapshotCreateData,
        SnapshotDeleteMarked, SnapshotDeleteData,
        VolumeCloneRecorded, VolumeCloneData,
        VolumeRevertMarked, VolumeRevertData,
    ];

    public const string VolumeCreateRecorded = "volume.create.recorded";
    public const string VolumeCreateData = "volume.create.data";
    public const string VolumeDeleteMarked = "volume.delete.marked";
    public const string VolumeDeleteData = "volume.delete.data";
    public const string VolumeResizeMarked = "volume.resize.marked";
    public const string VolumeResizeData = "volume.resize.data";
    public const string SnapshotCreateRecorded = "snapshot.create.recorded";
    public const string SnapshotCreateData = "snapshot.create.data";
    public const string SnapshotDeleteMarked = "snapshot.delete.marked";
    public const string SnapshotDeleteData = "snapshot.delete.data";
    public const string VolumeCloneRecorded = "volume.clone.recorded";
    public const string VolumeCloneData = "volume.clone.data";
    public const string VolumeRevertMarked = "volume.revert.marked";
    public const string VolumeRevertData = "volume.revert.data";

    /// <summary>Called when an operation reaches <paramref name="stepName"/>.</summary>
    public virtual void Reached(string stepName)
    {
    }
}
