namespace StoragePool.Core.Telemetry;

/// <summary>The one meter every component records on; the daemon's /metrics endpoint listens to it.</summary>
public static class Meters
{
    public const string Name = "StoragePool";
}
