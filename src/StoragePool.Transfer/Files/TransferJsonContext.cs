using System.Text.Json.Serialization;

namespace StoragePool.Transfer.Files;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(VolumeStreamFile.Header))]
internal sealed partial class TransferJsonContext : JsonSerializerContext
{
}
