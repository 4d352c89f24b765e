namespace StoragePool.Core.Errors;

/// <summary>
/// Every error a user can see, with a stable number. The number is the CLI's exit code;
/// <see cref="ErrorCodes"/> maps it to the REST problem code, the D-Bus error name and an errno.
/// Never renumber: add new codes at the end of their group.
/// </summary>
public enum ErrorCode
{
    InvalidArgument = 2,
    InvalidName = 3,
    InvalidSize = 4,
    MethodNotAllowed = 5,
    RequestTooLarge = 6,

    StoreNotFound = 10,
    PoolNotFound = 11,
    VolumeNotFound = 12,
    SnapshotNotFound = 13,
    JobNotFound = 14,

    AlreadyExists = 20,
    StoreInUse = 21,
    PoolNotEmpty = 22,
    VolumeHasSnapshots = 23,
    ShrinkNotAllowed = 24,
    Conflict = 25,
    VolumeInUse = 26,
    Cancelled = 27,

    NoSpace = 30,
    StorePathInvalid = 31,
    Unsupported = 32,

    Unauthorized = 40,
    DaemonUnavailable = 41,
    PermissionDenied = 42,
    PeerUnavailable = 43,

    Internal = 50,
    IoError = 51,
    ChecksumMismatch = 52,
}
