namespace StoragePool.Core.Errors;

/// <summary>
/// The one exception type for errors a user sees. The message is a sentence that says what
/// was wrong and what to do about it.
/// </summary>
public class StoragePoolException : Exception
{
    public StoragePoolException(ErrorCode code, string message)
        : base(message)
    {
        Code = code;
    }

    public StoragePoolException(ErrorCode code, string message, Exception inner)
        : base(message, inner)
    {
        Code = code;
    }

    public StoragePoolException()
        : this(ErrorCode.Internal, "internal error")
    {
    }

    public StoragePoolException(string message)
        : this(ErrorCode.Internal, message)
    {
    }

    public StoragePoolException(string message, Exception innerException)
        : this(ErrorCode.Internal, message, innerException)
    {
    }

    public ErrorCode Code { get; }
}
