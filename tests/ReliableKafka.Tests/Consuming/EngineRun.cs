using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Failures.Internal;

namespace ReliableKafka.Tests.Consuming;

/// <summary>A consumer engine running against a <see cref="FakeKafka"/> with a scripted handler, for one test.</summary>
internal sealed class EngineRun : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    private EngineRun(FakeKafka kafka, ScriptedHandler handler, FakeDeadLetterWriter deadLetters, ConsumerEngine engine)
    {
        Kafka = kafka;
        Handler = handler;
        DeadLetters = deadLetters;
        Engine = engine;
    }

    public FakeKafka Kafka { get; }

    public ScriptedHandler Handler { get; }

    public FakeDeadLetterWriter DeadLetters { get; }

    public ConsumerEngine Engine { get; }

    /// <summary>Gets the engine's run: completes when it stopped (faults with <see cref="ConsumerStoppedException"/> under StopConsumer).</summary>
    public Task Completion => _run!;

    public static EngineRun Start(
        Action<ConsumerOptions>? configure = null,
        Func<ConsumeResult<byte[]?, byte[]?>, CancellationToken, Task>? behavior = null,
        FakeKafka? kafka = null,
        TimeSpan? backpressureHold = null,
        IDeduplicationStore? store = null,
        TimeSpan? stallThreshold = null,
        IRecordGate? gate = null,
        TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var options = new ConsumerOptions { GroupId = "g", CommitInterval = TimeSpan.FromHours(1), ShutdownTimeout = TimeSpan.FromSeconds(5) };
        options.Topics.Add("orders");
        configure?.Invoke(options);
        var config = KafkaClientConfigBuilder.BuildConsumer(new ReliableKafkaOptions { BootstrapServers = "fake:9092" }, "test", options).ThrowIfInvalid();
        kafka ??= new FakeKafka();
        var handler = new ScriptedHandler(kafka, behavior);
        var deadLetters = new FakeDeadLetterWriter();
        var engine = new ConsumerEngine(
            config,
            options,
            handler,
            NullLoggerFactory.Instance,
            time,
            settings => new FakeConsumerBuilder(kafka, settings),
            new FakeGroupOffsetStore(kafka),
            deadLetters,
            store is null ? null : new Deduplicator(store, options.Deduplication, "test", options.GroupId, NullLogger.Instance, time),
            gate)
        {
            BackpressureHold = backpressureHold ?? TimeSpan.FromMilliseconds(250),
            StallThreshold = stallThreshold ?? TimeSpan.FromSeconds(30),
        };
        var run = new EngineRun(kafka, handler, deadLetters, engine);
        run._run = engine.RunAsync(run._stop.Token);
        return run;
    }

#pragma warning disable CA1822 // An instance method reads naturally in the tests: run.UntilAsync(...).
    public Task UntilAsync(Func<bool> condition) => WaitUntilAsync(condition, TimeSpan.FromSeconds(20));
#pragma warning restore CA1822

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _run!.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested && !_run!.IsCompleted)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException("The condition did not become true in time.");
            }

            await Task.Delay(5);
        }
    }
}

internal sealed class ScriptedHandler(FakeKafka kafka, Func<ConsumeResult<byte[]?, byte[]?>, CancellationToken, Task>? behavior) : IRecordHandler
{
    /// <summary>Gets each attempt's start (a record tried three times is here three times).</summary>
    public ConcurrentQueue<(int Partition, long Offset)> Started { get; } = new();

    public ConcurrentQueue<(int Partition, long Offset)> Completed { get; } = new();

    /// <summary>Gets or sets which records cannot be deserialized.</summary>
    public Func<ConsumeResult<byte[]?, byte[]?>, bool>? IsPoison { get; set; }

    /// <summary>Gets or sets what an asynchronous deserializer throws for a record on a call (null: it succeeds); makes the handler's deserialization asynchronous.</summary>
    public Func<ConsumeResult<byte[]?, byte[]?>, Exception?>? AsyncDeserializerError { get; set; }

    /// <summary>Gets how many times records were deserialized.</summary>
    public int Deserializations => _deserializations;

    private int _deserializations;

    public bool DeserializesAsynchronously => AsyncDeserializerError is not null;

    public async ValueTask<object> PrepareAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _deserializations);
        if (AsyncDeserializerError is { } error)
        {
            await Task.Yield();
            if (error(record) is { } e)
            {
                throw new MessageDeserializationException(MessageComponentType.Value, record.TopicPartitionOffset, e);
            }
        }

        return IsPoison?.Invoke(record) == true
            ? throw new MessageDeserializationException(MessageComponentType.Value, record.TopicPartitionOffset, new FormatException("not JSON"))
            : record;
    }

    /// <summary>Gets or sets the message id selector (null: none).</summary>
    public Func<ConsumeResult<byte[]?, byte[]?>, string?>? SelectId { get; set; }

    public string? SelectMessageId(object prepared) => SelectId?.Invoke((ConsumeResult<byte[]?, byte[]?>)prepared);

    public async Task HandleAsync(object prepared, int attempt, Func<IServiceProvider, ValueTask<IDeduplicationTransaction>>? transaction, CancellationToken cancellationToken)
    {
        var record = (ConsumeResult<byte[]?, byte[]?>)prepared;
        Started.Enqueue((record.Partition.Value, record.Offset.Value));
        kafka.Record($"handle {record.Partition.Value}@{record.Offset.Value} attempt {attempt}");
        if (behavior is not null)
        {
            await behavior(record, cancellationToken);
        }

        Completed.Enqueue((record.Partition.Value, record.Offset.Value));
    }
}

/// <summary>Remembers dead-lettered records; can fail writes to show that the record then stays unfinished.</summary>
internal sealed class FakeDeadLetterWriter : IDeadLetterWriter
{
    private int _calls;
    private int _lookups;

    public ConcurrentQueue<(ConsumeResult<byte[]?, byte[]?> Record, Exception Error, int Attempts)> Written { get; } = new();

    /// <summary>Gets or sets an exception to throw for the n-th write (1-based), or null to succeed.</summary>
    public Func<int, Exception?>? FailWrite { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public Task<TopicPartitionOffset> WriteAsync(ConsumeResult<byte[]?, byte[]?> record, Exception error, int attempts, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        if (FailWrite?.Invoke(call) is { } failure)
        {
            return Task.FromException<TopicPartitionOffset>(failure);
        }

        Written.Enqueue((record, error, attempts));
        return Task.FromResult(new TopicPartitionOffset(record.Topic + ".dlt", 0, Written.Count - 1));
    }

    /// <summary>Gets or sets an exception to throw for the n-th look-up (1-based), or null to answer.</summary>
    public Func<int, Exception?>? FailContains { get; set; }

    public int Lookups => Volatile.Read(ref _lookups);

    public Task<bool> ContainsAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _lookups);
        return FailContains?.Invoke(call) is { } failure
            ? Task.FromException<bool>(failure)
            : Task.FromResult(Written.Any(w => w.Record.TopicPartitionOffset == record.TopicPartitionOffset));
    }

    /// <summary>Gets what was sent to other topics (retry topics, the parking topic).</summary>
    public ConcurrentQueue<(TopicPartition Destination, Message<byte[]?, byte[]?> Message)> Sent { get; } = new();

    public Task<TopicPartitionOffset> SendAsync(TopicPartition destination, Message<byte[]?, byte[]?> message, CancellationToken cancellationToken)
    {
        Sent.Enqueue((destination, message));
        return Task.FromResult(new TopicPartitionOffset(destination.Topic, destination.Partition == Partition.Any ? 0 : destination.Partition, Sent.Count - 1));
    }

    public Task<int> PartitionCountAsync(string topic, bool refresh, CancellationToken cancellationToken) => Task.FromResult(1);

    public void Dispose()
    {
    }
}
