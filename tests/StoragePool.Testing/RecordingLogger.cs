using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace StoragePool.Testing;

/// <summary>Keeps every log line a component writes, so tests can check what it said.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyCollection<LogLine> Lines => _lines;

    public int Count(int eventId) => _lines.Count(l => l.EventId == eventId);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter)
    {
        _lines.Enqueue(new LogLine(logLevel, eventId.Id, formatter(state, exception), exception));
    }

    /// <summary>Everything at warning or above, for a failure message.</summary>
    public string Warnings() => string.Join(Environment.NewLine,
        _lines.Where(l => l.Level >= LogLevel.Warning).Select(l => $"{l.EventId} {l.Message} {l.Exception?.Message}"));

    /// <summary>Every line, one per line, for a search or a failure message.</summary>
    public override string ToString() => string.Join(Environment.NewLine, _lines.Select(l => l.Message));
}

public sealed record LogLine(LogLevel Level, int EventId, string Message, Exception? Exception);
