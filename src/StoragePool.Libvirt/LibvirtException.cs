using StoragePool.Core.Errors;

namespace StoragePool.Libvirt;

/// <summary>
/// A libvirt call failed. Carries libvirt's own error number (<see cref="LibvirtCode"/>, a
/// <c>virErrorNumber</c>), the part of libvirt that raised it (<see cref="LibvirtErrorDomain"/>, a
/// <c>virErrorDomain</c>) and libvirt's message, and maps them to the <see cref="ErrorCode"/> every
/// StoragePool surface reports (a missing pool is <see cref="ErrorCode.PoolNotFound"/>, and so on).
/// </summary>
public sealed class LibvirtException : StoragePoolException
{
    public LibvirtException(string operation, int libvirtCode, int libvirtErrorDomain, string libvirtMessage)
        : base(CodeFor(libvirtCode), $"{operation} failed: {libvirtMessage} (libvirt error {libvirtCode})")
    {
        Operation = operation;
        LibvirtCode = libvirtCode;
        LibvirtErrorDomain = libvirtErrorDomain;
        LibvirtMessage = libvirtMessage;
    }

    /// <summary>What StoragePool asked libvirt to do, e.g. <c>starting storage pool 'p1'</c>.</summary>
    public string Operation { get; }

    /// <summary>libvirt's <c>virErrorNumber</c> (see <see cref="LibvirtErrorCodes"/>).</summary>
    public int LibvirtCode { get; }

    /// <summary>libvirt's <c>virErrorDomain</c>: 18 the storage driver, 12 the test driver, 20 domain config, ….</summary>
    public int LibvirtErrorDomain { get; }

    /// <summary>libvirt's message as it wrote it.</summary>
    public string LibvirtMessage { get; }

    /// <summary>The storage pool, storage volume or domain the call named does not exist (any more).</summary>
    public bool IsNotFound => LibvirtErrorCodes.IsNotFound(LibvirtCode);

    private static ErrorCode CodeFor(int libvirtCode) => libvirtCode switch
    {
        LibvirtErrorCodes.NoStoragePool => ErrorCode.PoolNotFound,
        LibvirtErrorCodes.NoStorageVolume => ErrorCode.VolumeNotFound,
        LibvirtErrorCodes.StorageVolumeExists or LibvirtErrorCodes.DomainExists => ErrorCode.AlreadyExists,
        LibvirtErrorCodes.NoSupport or LibvirtErrorCodes.OperationUnsupported
            or LibvirtErrorCodes.ConfigUnsupported => ErrorCode.Unsupported,
        LibvirtErrorCodes.InvalidArgument or LibvirtErrorCodes.XmlError or LibvirtErrorCodes.XmlDetail
            or LibvirtErrorCodes.XmlInvalidSchema => ErrorCode.InvalidArgument,
        LibvirtErrorCodes.OperationInvalid => ErrorCode.Conflict,
        _ => ErrorCode.Internal,
    };
}

/// <summary>The <c>virErrorNumber</c> values (virterror.h) StoragePool tells apart.</summary>
public static class LibvirtErrorCodes
{
    public const int InternalError = 1;
    public const int NoSupport = 3;
    public const int InvalidArgument = 8;

    /// <summary>A generic failure; the test driver also reports an existing volume name with it.</summary>
    public const int OperationFailed = 9;
    public const int XmlError = 27;
    public const int DomainExists = 28;
    public const int XmlDetail = 35;
    public const int NoDomain = 42;
    public const int NoStoragePool = 49;
    public const int NoStorageVolume = 50;

    /// <summary>The object is in the wrong state for the call (e.g. starting a pool that is already active).</summary>
    public const int OperationInvalid = 55;
    public const int ConfigUnsupported = 67;
    public const int OperationUnsupported = 84;
    /// <summary>The storage driver's answer to creating a volume whose name is taken.</summary>
    public const int StorageVolumeExists = 90;
    public const int XmlInvalidSchema = 92;

    public static bool IsNotFound(int libvirtCode) =>
        libvirtCode is NoStoragePool or NoStorageVolume or NoDomain;
}
