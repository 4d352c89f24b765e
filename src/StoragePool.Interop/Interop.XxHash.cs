using System.Runtime.InteropServices;

namespace StoragePool.Interop;

internal static partial class Interop
{
    /// <summary>libxxhash.so.0 (Debian's libxxhash0): XXH3, 128-bit.</summary>
    internal static partial class XxHash
    {
        private const string Lib = "libxxhash.so.0";

        /// <summary>XXH128_hash_t: low 64 bits first, as the C struct lays them out.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Hash128
        {
            public ulong Low64;
            public ulong High64;
        }

        [LibraryImport(Lib, EntryPoint = "XXH3_128bits")]
        internal static unsafe partial Hash128 Xxh3Hash128(byte* data, nuint length);
    }
}
