using System.Text;

namespace StoragePool.Core.Errors;

/// <summary>The one table that names an <see cref="ErrorCode"/> on every surface.</summary>
public static class ErrorCodes
{
    public const string DBusErrorPrefix = "org.storagepool.StoragePool1.Error.";

    /// <summary>snake_case identifier used in REST problem documents and JSON (<c>volume_not_found</c>).</summary>
    public static string Id(this ErrorCode code)
    {
        var name = code.ToString();
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                sb.Append('_');
            }
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    /// <summary>D-Bus error name (<c>org.storagepool.StoragePool1.Error.VolumeNotFound</c>).</summary>
    public static string DBusName(this ErrorCode code) => DBusErrorPrefix + code;

    /// <summary>Process exit code of the CLI.</summary>
    public static int ExitCode(this ErrorCode code) => (int)code;

    public static int HttpStatus(this ErrorCode code) => code switch
    {
        ErrorCode.InvalidArgument or ErrorCode.InvalidName or ErrorCode.InvalidSize
            or ErrorCode.StorePathInvalid => 400,
        ErrorCode.MethodNotAllowed => 405,
        ErrorCode.RequestTooLarge => 413,
        ErrorCode.Unauthorized => 401,
        ErrorCode.PermissionDenied => 403,
        ErrorCode.StoreNotFound or ErrorCode.PoolNotFound or ErrorCode.VolumeNotFound
            or ErrorCode.SnapshotNotFound or ErrorCode.JobNotFound => 404,
        ErrorCode.AlreadyExists or ErrorCode.StoreInUse or ErrorCode.PoolNotEmpty
            or ErrorCode.VolumeHasSnapshots or ErrorCode.ShrinkNotAllowed or ErrorCode.Conflict
            or ErrorCode.VolumeInUse or ErrorCode.Cancelled => 409,
        ErrorCode.ChecksumMismatch => 422,
        ErrorCode.NoSpace => 507,
        ErrorCode.Unsupported => 501,
        ErrorCode.DaemonUnavailable => 503,
        ErrorCode.PeerUnavailable => 502,
        _ => 500,
    };

    /// <summary>The errno a block or file path (NBD, FUSE) reports for this error.</summary>
    public static int Errno(this ErrorCode code) => code switch
    {
        ErrorCode.StoreNotFound or ErrorCode.PoolNotFound or ErrorCode.VolumeNotFound
            or ErrorCode.SnapshotNotFound or ErrorCode.JobNotFound => 2, // ENOENT
        ErrorCode.AlreadyExists => 17, // EEXIST
        ErrorCode.ShrinkNotAllowed => 1, // EPERM: truncate(2) of a volume's file that would drop data
        ErrorCode.PoolNotEmpty or ErrorCode.VolumeHasSnapshots => 39, // ENOTEMPTY
        ErrorCode.StoreInUse or ErrorCode.Conflict or ErrorCode.VolumeInUse => 16, // EBUSY
        ErrorCode.NoSpace => 28, // ENOSPC
        ErrorCode.Unauthorized or ErrorCode.PermissionDenied => 13, // EACCES
        ErrorCode.Unsupported => 95, // EOPNOTSUPP
        ErrorCode.IoError or ErrorCode.Internal or ErrorCode.ChecksumMismatch => 5, // EIO
        ErrorCode.Cancelled => 125, // ECANCELED
        ErrorCode.PeerUnavailable => 113, // EHOSTUNREACH
        ErrorCode.DaemonUnavailable => 107, // ENOTCONN
        _ => 22, // EINVAL
    };

    public static bool TryParseId(string id, out ErrorCode code)
    {
        foreach (var value in Enum.GetValues<ErrorCode>())
        {
            if (value.Id() == id)
            {
                code = value;
                return true;
            }
        }
        code = ErrorCode.Internal;
        return false;
    }
}
