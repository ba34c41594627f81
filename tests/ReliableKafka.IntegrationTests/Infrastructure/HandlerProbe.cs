using System.Collections.Concurrent;

namespace ReliableKafka.IntegrationTests.Infrastructure;

/// <summary>What a test handler did, shared (singleton) across the per-record handler instances.</summary>
internal sealed class HandlerProbe
{
    private int _running;
    private int _maxRunning;

    /// <summary>Gets records whose handler succeeded, in completion order.</summary>
    public ConcurrentQueue<HandledRecord> Handled { get; } = new();

    /// <summary>Gets every attempt, successful or not.</summary>
    public ConcurrentQueue<HandledRecord> Attempts { get; } = new();

    /// <summary>Gets or sets what the handler does before it records success; throwing fails the record.</summary>
    public Func<MessageContext<string, string>, CancellationToken, Task>? Behavior { get; set; }

    public int MaxConcurrentPerPartition { get; private set; }

    public int MaxConcurrentPerKey { get; private set; }

    public int MaxRunning => Volatile.Read(ref _maxRunning);

    private readonly ConcurrentDictionary<int, int> _runningPerPartition = new();
    private readonly ConcurrentDictionary<string, int> _runningPerKey = new();

    public async Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
    {
        var record = new HandledRecord(context.Topic, context.Partition.Value, context.Offset.Value, context.Key, context.Value, context.MessageId);
        Attempts.Enqueue(record);
        var running = Interlocked.Increment(ref _running);
        InterlockedMax(ref _maxRunning, running);
        var inPartition = _runningPerPartition.AddOrUpdate(record.Partition, 1, (_, n) => n + 1);
        var withKey = _runningPerKey.AddOrUpdate(record.Key ?? string.Empty, 1, (_, n) => n + 1);
        lock (_runningPerPartition)
        {
            MaxConcurrentPerPartition = Math.Max(MaxConcurrentPerPartition, inPartition);
            MaxConcurrentPerKey = Math.Max(MaxConcurrentPerKey, withKey);
        }

        try
        {
            if (Behavior is { } behavior)
            {
                await behavior(context, cancellationToken);
            }

            Handled.Enqueue(record);
        }
        finally
        {
            _runningPerPartition.AddOrUpdate(record.Partition, 0, (_, n) => n - 1);
            _runningPerKey.AddOrUpdate(record.Key ?? string.Empty, 0, (_, n) => n - 1);
            Interlocked.Decrement(ref _running);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

internal sealed record HandledRecord(string Topic, int Partition, long Offset, string Key, string Value, string? MessageId);

/// <summary>The handler registered in tests: forwards to the probe.</summary>
internal sealed class ProbeHandler(HandlerProbe probe) : IMessageHandler<string, string>
{
    public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken) =>
        probe.HandleAsync(context, cancellationToken);
}
