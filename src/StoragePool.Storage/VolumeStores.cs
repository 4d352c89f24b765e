using StoragePool.Core.Errors;
using StoragePool.Core.Model;

namespace StoragePool.Storage;

/// <summary>Opens the right <see cref="IVolumeStore"/> for a store's backend.</summary>
public static class VolumeStores
{
    public static IVolumeStore Open(StoreRecord store) => store.Backend switch
    {
        StoreBackends.File => new FileStore(store.Path),
        _ => throw Unknown(store.Backend),
    };

    /// <summary>
    /// Throws <see cref="ErrorCode.StorePathInvalid"/> unless the backend can use <paramref name="path"/>; returns the
    /// path the backend will really use (its symbolic links resolved).
    /// </summary>
    public static string ValidatePath(string backend, string path) => backend switch
    {
        StoreBackends.File => FileStore.ValidatePath(path),
        _ => throw Unknown(backend),
    };

    private static StoragePoolException Unknown(string backend) =>
        new(ErrorCode.Unsupported, $"store backend '{backend}' is not supported; use '{StoreBackends.File}'");
}
