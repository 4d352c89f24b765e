using System.Diagnostics.Metrics;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Telemetry;

namespace StoragePool.Cluster.Control;

/// <summary>
/// The pool's instruments on <see cref="System.Diagnostics.Metrics"/>: operation counts and
/// latencies, and pool capacity gauges observed from the last status taken.
/// They are on <see cref="Meters.Name"/>, which the daemon's /metrics endpoint writes as Prometheus text.
/// </summary>
public sealed class OperationMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _operations;
    private readonly Histogram<double> _duration;
    private StatusInfo? _status;

    public OperationMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(Meters.Name) ?? new Meter(Meters.Name);
        _operations = _meter.CreateCounter<long>("storagepool_operations", description: "Operations finished, by operation and result");
        _duration = _meter.CreateHistogram<double>("storagepool_operation_duration_seconds", "s", "Time taken by operations");
        _meter.CreateObservableGauge("storagepool_pool_capacity_bytes", () => PoolGauge(p => p.CapacityBytes), "By", "Capacity of the store under each pool");
        _meter.CreateObservableGauge("storagepool_pool_free_bytes", () => PoolGauge(p => p.FreeBytes), "By", "Free bytes of the store under each pool");
        _meter.CreateObservableGauge("storagepool_pool_provisioned_bytes", () => PoolGauge(p => p.ProvisionedBytes), "By", "Sum of volume and snapshot sizes in each pool");
        _meter.CreateObservableGauge("storagepool_pool_allocated_bytes", () => PoolGauge(p => p.AllocatedBytes), "By", "Bytes allocated by each pool's volumes and snapshots");
        _meter.CreateObservableGauge("storagepool_pool_volumes", () => PoolGauge(p => p.VolumeCount), description: "Volumes in each pool");
        _meter.CreateObservableGauge("storagepool_pool_snapshots", () => PoolGauge(p => p.SnapshotCount), description: "Snapshots in each pool");
    }

    public void Record(string operation, ErrorCode? error, TimeSpan elapsed)
    {
        var result = new KeyValuePair<string, object?>("result", error is null ? "ok" : error.Value.Id());
        var op = new KeyValuePair<string, object?>("operation", operation);
        _operations.Add(1, op, result);
        _duration.Record(elapsed.TotalSeconds, op);
    }

    /// <summary>The status the pool gauges report until the next call.</summary>
    public void Observe(StatusInfo status) => Volatile.Write(ref _status, status);

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> PoolGauge(Func<PoolInfo, long> value) =>
        Volatile.Read(ref _status)?.Pools.Select(p => new Measurement<long>(value(p), new KeyValuePair<string, object?>("pool", p.Name)))
        ?? [];
}
