using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using StoragePool.Cluster.Control;
using StoragePool.Core.Telemetry;

namespace StoragePool.Daemon.Metrics;

/// <summary>
/// Listens to the StoragePool meter (<see cref="Meters.Name"/>) and writes the Prometheus text exposition format (0.0.4):
/// counters as <c>_total</c>, histograms as cumulative <c>_bucket</c>/<c>_sum</c>/<c>_count</c>,
/// observable gauges read at scrape time.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] Bounds = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60];

    private readonly MeterListener _listener = new();
    private readonly PoolManager _pool;
    private readonly OperationMetrics _metrics;
    private readonly ConcurrentDictionary<Instrument, ConcurrentDictionary<string, Series>> _series = new();
    private readonly SemaphoreSlim _scrape = new(1, 1);

    public PrometheusExporter(PoolManager pool, OperationMetrics metrics)
    {
        _pool = pool;
        _metrics = metrics;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == Meters.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        // every numeric type an instrument here records; a measurement of a type without a callback is dropped silently
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Update(i, value, tags));
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Update(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Update(i, value, tags));
        _listener.Start();
    }

    public async Task<string> ScrapeAsync(CancellationToken ct)
    {
        await _scrape.WaitAsync(ct);
        try
        {
            _metrics.Observe(await _pool.GetStatusAsync(ct));
            foreach (var (instrument, series) in _series)
            {
                if (instrument.IsObservable)
                {
                    series.Clear(); // gauges report only what exists now
                }
            }
            _listener.RecordObservableInstruments();
            return Write();
        }
        finally
        {
            _scrape.Release();
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _scrape.Dispose();
    }

    private void Update(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = Labels(tags);
        var series = _series.GetOrAdd(instrument, _ => new ConcurrentDictionary<string, Series>())
            .GetOrAdd(labels, _ => new Series(instrument is Histogram<double> ? new long[Bounds.Length + 1] : null));
        lock (series)
        {
            switch (instrument)
            {
                case Counter<long> or Counter<int>:
                    series.Value += value;
                    break;
                case Histogram<double>:
                    series.Value += value;
                    series.Count++;
                    var bucket = Array.FindIndex(Bounds, b => value <= b);
                    series.Buckets![bucket < 0 ? Bounds.Length : bucket]++;
                    break;
                default:
                    series.Value = value;
                    break;
            }
        }
    }

    private string Write()
    {
        var text = new StringBuilder();
        foreach (var (instrument, all) in _series.OrderBy(s => s.Key.Name, StringComparer.Ordinal))
        {
            var name = instrument.Name;
            var (type, suffix) = instrument switch
            {
                Counter<long> or Counter<int> => ("counter", "_total"),
                Histogram<double> => ("histogram", string.Empty),
                _ => ("gauge", string.Empty),
            };
            text.Append(CultureInfo.InvariantCulture, $"# HELP {name}{suffix} {instrument.Description}\n");
            text.Append(CultureInfo.InvariantCulture, $"# TYPE {name}{suffix} {type}\n");
            foreach (var (labels, series) in all.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (series.Buckets is { } buckets)
                    {
                        long cumulative = 0;
                        for (var i = 0; i < buckets.Length; i++)
                        {
                            cumulative += buckets[i];
                            var le = i < Bounds.Length ? Number(Bounds[i]) : "+Inf";
                            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{Join(labels, $"le=\"{le}\"")}}} {cumulative}\n");
                        }
                        text.Append(CultureInfo.InvariantCulture, $"{name}_sum{Braces(labels)} {Number(series.Value)}\n");
                        text.Append(CultureInfo.InvariantCulture, $"{name}_count{Braces(labels)} {series.Count}\n");
                    }
                    else
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{name}{suffix}{Braces(labels)} {Number(series.Value)}\n");
                    }
                }
            }
        }
        return text.ToString();
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new List<string>(tags.Length);
        foreach (var (key, value) in tags)
        {
            var escaped = (value?.ToString() ?? string.Empty).Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
            pairs.Add($"{key}=\"{escaped}\"");
        }
        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

    private static string Braces(string labels) => labels.Length == 0 ? string.Empty : "{" + labels + "}";

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private sealed class Series(long[]? buckets)
    {
        public double Value { get; set; }

        public long Count { get; set; }

        public long[]? Buckets { get; } = buckets;
    }
}
