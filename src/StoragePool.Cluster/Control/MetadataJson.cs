using System.Text.Json;
using System.Text.Json.Serialization;
using StoragePool.Core.Model;

namespace StoragePool.Cluster.Control;

/// <summary>How records are stored as metadata values: snake_case JSON, enums as strings.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoreRecord))]
[JsonSerializable(typeof(PoolRecord))]
[JsonSerializable(typeof(VolumeRecord))]
[JsonSerializable(typeof(SnapshotRecord))]
internal sealed partial class MetadataJsonContext : JsonSerializerContext
{
}

internal static class MetadataJson
{
    public static byte[] Encode(StoreRecord r) => JsonSerializer.SerializeToUtf8Bytes(r, MetadataJsonContext.Default.StoreRecord);

    public static byte[] Encode(PoolRecord r) => JsonSerializer.SerializeToUtf8Bytes(r, MetadataJsonContext.Default.PoolRecord);

    public static byte[] Encode(VolumeRecord r) => JsonSerializer.SerializeToUtf8Bytes(r, MetadataJsonContext.Default.VolumeRecord);

    public static byte[] Encode(SnapshotRecord r) => JsonSerializer.SerializeToUtf8Bytes(r, MetadataJsonContext.Default.SnapshotRecord);

    public static StoreRecord Store(byte[] v) => Decode(v, MetadataJsonContext.Default.StoreRecord);

    public static PoolRecord Pool(byte[] v) => Decode(v, MetadataJsonContext.Default.PoolRecord);

    public static VolumeRecord Volume(byte[] v) => Decode(v, MetadataJsonContext.Default.VolumeRecord);

    public static SnapshotRecord Snapshot(byte[] v) => Decode(v, MetadataJsonContext.Default.SnapshotRecord);

    private static T Decode<T>(byte[] value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(value, type) ?? throw new InvalidDataException($"metadata value is null for {typeof(T).Name}");
}
