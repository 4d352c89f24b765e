using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>libzstd.so.1 (Debian's libzstd1): one-shot compression with a reusable context per thread.</summary>
    internal static partial class Zstd
    {
        private const string Lib = "libzstd.so.1";

        [LibraryImport(Lib, EntryPoint = "ZSTD_createCCtx")]
        internal static partial nint CreateCCtx();

        [LibraryImport(Lib, EntryPoint = "ZSTD_freeCCtx")]
        internal static partial nuint FreeCCtx(nint cctx);

        [LibraryImport(Lib, EntryPoint = "ZSTD_createDCtx")]
        internal static partial nint CreateDCtx();

        [LibraryImport(Lib, EntryPoint = "ZSTD_freeDCtx")]
        internal static partial nuint FreeDCtx(nint dctx);

        [LibraryImport(Lib, EntryPoint = "ZSTD_compressCCtx")]
        internal static unsafe partial nuint CompressCCtx(nint cctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int level);

        [LibraryImport(Lib, EntryPoint = "ZSTD_decompressDCtx")]
        internal static unsafe partial nuint DecompressDCtx(nint dctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

        [LibraryImport(Lib, EntryPoint = "ZSTD_compressBound")]
        internal static partial nuint CompressBound(nuint srcSize);

        [LibraryImport(Lib, EntryPoint = "ZSTD_isError")]
        internal static partial uint IsError(nuint code);

        [LibraryImport(Lib, EntryPoint = "ZSTD_getErrorName")]
        internal static partial nint GetErrorName(nuint code);
    }
}
