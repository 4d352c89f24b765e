using System.Text.Json;
using System.Text.Json.Serialization;
using StoragePool.Core.Model;

namespace StoragePool.Api;

/// <summary>The one JSON shape of the API: snake_case names, enums as snake_case strings.</summary>
// A request (or reply) that lacks a field its record requires, or has null where the record allows none, is refused as
// it is read, whatever call it is for: no handler ever sees a half-filled record.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    WriteIndented = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(StoreInfo))]
[JsonSerializable(typeof(IReadOnlyList<StoreInfo>))]
[JsonSerializable(typeof(PoolInfo))]
[JsonSerializable(typeof(IReadOnlyList<PoolInfo>))]
[JsonSerializable(typeof(VolumeInfo))]
[JsonSerializable(typeof(IReadOnlyList<VolumeInfo>))]
[JsonSerializable(typeof(VolumeChange))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(IReadOnlyList<SnapshotInfo>))]
[JsonSerializable(typeof(StatusInfo))]
[JsonSerializable(typeof(ExportInfo))]
[JsonSerializable(typeof(LibvirtXml))]
[JsonSerializable(typeof(AddStoreRequest))]
[JsonSerializable(typeof(CreatePoolRequest))]
[JsonSerializable(typeof(CreateVolumeRequest))]
[JsonSerializable(typeof(ResizeVolumeRequest))]
[JsonSerializable(typeof(CreateSnapshotRequest))]
[JsonSerializable(typeof(CloneVolumeRequest))]
[JsonSerializable(typeof(RevertVolumeRequest))]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(StartJobRequest))]
[JsonSerializable(typeof(JobInfo))]
[JsonSerializable(typeof(IReadOnlyList<JobInfo>))]
[JsonSerializable(typeof(BeginTransferRequest))]
[JsonSerializable(typeof(TransferSession))]
[JsonSerializable(typeof(CompleteTransferRequest))]
[JsonSerializable(typeof(TransferCompletion))]
public sealed partial class ApiJsonContext : JsonSerializerContext
{
}

public static class ApiJson
{
    public static JsonSerializerOptions Options => ApiJsonContext.Default.Options;
}
