using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>Writes log lines to the test's output, so a failing test shows what the library did.</summary>
internal sealed class XunitLoggerProvider(ITestOutputHelper output) : ILoggerProvider
{
    // RELIABLEKAFKA_TEST_LOG_LEVEL=Trace shows everything, librdkafka's debug lines included.
    private static readonly LogLevel MinimumLevel =
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("RELIABLEKAFKA_TEST_LOG_LEVEL"), out var level) ? level : LogLevel.Information;

    private readonly DateTime _start = DateTime.UtcNow;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(string line)
    {
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has finished; late lines are dropped.
        }
    }

    private sealed class Logger(XunitLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= MinimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var elapsed = DateTime.UtcNow - provider._start;
            provider.Write($"{elapsed.TotalSeconds,7:0.000} {logLevel,-11} {category} [{eventId.Id}] {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.GetType().Name + ": " + exception.Message)}");
        }
    }
}
