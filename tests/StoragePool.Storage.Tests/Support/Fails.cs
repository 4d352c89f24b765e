using NUnit.Framework;
using NUnit.Framework.Constraints;
using StoragePool.Core.Errors;

namespace StoragePool.Storage.Tests.Support;

internal static class Fails
{
    /// <summary>Throws a <see cref="StoragePoolException"/> with <paramref name="code"/> whose message contains each of <paramref name="texts"/>.</summary>
    public static IResolveConstraint With(ErrorCode code, params string[] texts)
    {
        Constraint constraint = Throws.TypeOf<StoragePoolException>()
            .With.Property(nameof(StoragePoolException.Code)).EqualTo(code);
        foreach (var text in texts)
        {
            constraint = constraint.And.Message.Contains(text);
        }
        return constraint;
    }
}
