using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using StoragePool.Core.Errors;
using Native = StoragePool.Interop.Interop.Zstd;

namespace StoragePool.Transfer.Chunks;

/// <summary>zstd through libzstd: one-shot per chunk, with contexts pooled across threads (a context is ~1 MiB at level 1).</summary>
public static class Zstd
{
    /// <summary>Level 1: about 1.1–1.6 GB/s per core here, which is what a transfer can afford.</summary>
    public const int DefaultLevel = 1;

    private static readonly ConcurrentBag<nint> Compressors = [];
    private static readonly ConcurrentBag<nint> Decompressors = [];

    public static int CompressBound(int length) => (int)Native.CompressBound((nuint)length);

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/>. Returns the compressed length,
    /// or -1 when it does not fit (the data does not compress into that room: send it raw).
    /// </summary>
    public static unsafe int TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, int level = DefaultLevel)
    {
        if (!Compressors.TryTake(out var cctx))
        {
            cctx = Native.CreateCCtx();
            if (cctx == 0)
            {
                throw new InvalidOperationException("ZSTD_createCCtx failed (out of memory)");
            }
        }
        try
        {
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                var result = Native.CompressCCtx(cctx, dst, (nuint)destination.Length, src, (nuint)source.Length, level);
                return Native.IsError(result) != 0 ? -1 : (int)result;
            }
        }
        finally
        {
            Compressors.Add(cctx);
        }
    }

    /// <summary>Decompresses a frame of exactly <paramref name="destination"/>.Length bytes; anything else is corrupt input.</summary>
    public static unsafe void Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!Decompressors.TryTake(out var dctx))
        {
            dctx = Native.CreateDCtx();
            if (dctx == 0)
            {
                throw new InvalidOperationException("ZSTD_createDCtx failed (out of memory)");
            }
        }
        nuint result;
        try
        {
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                result = Native.DecompressDCtx(dctx, dst, (nuint)destination.Length, src, (nuint)source.Length);
            }
        }
        finally
        {
            Decompressors.Add(dctx);
        }
        if (Native.IsError(result) != 0)
        {
            throw new StoragePoolException(ErrorCode.ChecksumMismatch,
                $"a zstd chunk does not decompress: {Marshal.PtrToStringUTF8(Native.GetErrorName(result))}");
        }
        if ((int)result != destination.Length)
        {
            throw new StoragePoolException(ErrorCode.ChecksumMismatch,
                $"a zstd chunk decompresses to {result} bytes, not the {destination.Length} its header says");
        }
    }
}
