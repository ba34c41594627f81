using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>Keeps every log entry of a host so that a test can assert what was logged.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture.Entries.Enqueue(new LogEntry(logLevel, category, eventId.Id, formatter(state, exception)));
    }
}

internal sealed record LogEntry(LogLevel Level, string Category, int EventId, string Message);
