using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Diagnostics;

/// <summary>The ReliableKafka activity source: a send span per message, a process span per record, one trace across the hop.</summary>
public sealed class TracingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestKafka _kafka = TestKafka.Start();
    private readonly HandlerProbe _probe = new();
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task ProducedThenConsumed_TheProcessSpanIsAChildOfTheSendSpan_WithMessagingAttributes()
    {
        var topic = _kafka.CreateTopic("traced", 2);
        _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        using var listener = Listen(topic);
        var seenParents = new ConcurrentQueue<(string Value, string? TraceParent, ActivityTraceId? CurrentTrace)>();
        _probe.Behavior = (context, _) =>
        {
            var header = context.Headers.TryGetLastBytes("traceparent", out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
            seenParents.Enqueue((context.Value, header, Activity.Current?.TraceId));
            return Task.CompletedTask;
        };
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, configureKafka: kafka => kafka.AddProducer<string, string>());
        await host.StartAsync();

        var producer = host.Services.GetRequiredService<IReliableProducer<string, string>>();
        await producer.ProduceAsync(topic, "k1", "v1");
        ActivityTraceId callerTrace;
        ActivitySpanId callerSpan;
        using (var caller = new Activity("checkout").Start())
        {
            // The caller's own trace goes through the send span to the consumer.
            (callerTrace, callerSpan) = (caller.TraceId, caller.SpanId);
            await producer.ProduceAsync(topic, "k2", "v2");
            Activity.Current.Should().BeSameAs(caller, "the send span does not stay current in the caller's flow");
        }

        await Eventually.UntilAsync(() => _stopped.Count(a => a.Kind == ActivityKind.Consumer) == 2, "both process spans ended");
        await host.StopAsync();

        var callers = _stopped.Single(a => a.Kind == ActivityKind.Producer && a.ParentSpanId == callerSpan);
        callers.TraceId.Should().Be(callerTrace, "the send span is a child of the caller's activity");
        _stopped.Single(a => a.Kind == ActivityKind.Consumer && a.ParentSpanId == callers.SpanId).TraceId.Should().Be(callerTrace);

        var sends = _stopped.Where(a => a.Kind == ActivityKind.Producer).ToList();
        var processes = _stopped.Where(a => a.Kind == ActivityKind.Consumer).ToList();
        sends.Should().HaveCount(2);
        foreach (var process in processes)
        {
            var parent = sends.Single(s => s.SpanId == process.ParentSpanId);
            process.TraceId.Should().Be(parent.TraceId, "one trace spans the producer and the consumer");
            process.DisplayName.Should().Be($"{topic} process");
            process.GetTagItem("messaging.system").Should().Be("kafka");
            process.GetTagItem("messaging.destination.name").Should().Be(topic);
            process.GetTagItem("messaging.consumer.group.name").Should().Be(group);
            process.GetTagItem("messaging.message.id").Should().Be(parent.GetTagItem("messaging.message.id"));
            process.GetTagItem("messaging.destination.partition.id").Should().Be(parent.GetTagItem("messaging.destination.partition.id"));
            process.GetTagItem("messaging.kafka.offset").Should().Be(parent.GetTagItem("messaging.kafka.offset"));
        }

        sends.Should().OnlyContain(s => s.DisplayName == $"{topic} send" && (string?)s.GetTagItem("messaging.operation.type") == "send");
        seenParents.Should().OnlyContain(p => p.TraceParent != null && p.CurrentTrace != null, "the handler runs inside the process span, and the record carries the trace context");
    }

    [Fact]
    public async Task HandlerFails_TheProcessSpanSaysSo()
    {
        var topic = _kafka.CreateTopic("traced-failing", 1);
        _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        using var listener = Listen(topic);
        _probe.Behavior = (_, _) => throw new InvalidOperationException("order is invalid");
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o => o.Retry.MaxAttempts = 1, kafka => kafka.AddProducer<string, string>());
        await host.StartAsync();
        await host.Services.GetRequiredService<IReliableProducer<string, string>>().ProduceAsync(topic, "k", "v");

        await Eventually.UntilAsync(() => _stopped.Any(a => a.Kind == ActivityKind.Consumer), "the process span ended");
        await host.StopAsync();

        var process = _stopped.First(a => a.Kind == ActivityKind.Consumer);
        process.Status.Should().Be(ActivityStatusCode.Error);
        process.GetTagItem("error.type").Should().Be(typeof(InvalidOperationException).FullName);
    }

    [Fact]
    public async Task FailedThenRedriven_OneTraceSpansProducerConsumerDeadLetterAndRedrive()
    {
        var topic = _kafka.CreateTopic("traced-redrive", 1);
        var deadLetters = _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        using var listener = Listen(topic);
        var failOnce = 1;
        _probe.Behavior = (_, _) => Interlocked.Exchange(ref failOnce, 0) == 1 ? throw new InvalidOperationException("not yet") : Task.CompletedTask;
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o => o.Retry.MaxAttempts = 1, kafka => kafka.AddProducer<string, string>());
        await host.StartAsync();
        await host.Services.GetRequiredService<IReliableProducer<string, string>>().ProduceAsync(topic, "k", "v");
        await Eventually.UntilAsync(() => _stopped.Any(a => a.DisplayName == $"{deadLetters} send"), "the dead-letter write's span ended");

        var redrive = await host.Services.GetRequiredService<IDeadLetterRedriver>().RedriveAsync(new RedriveRequest { DeadLetterTopic = deadLetters });
        redrive.Redriven.Should().Be(1);
        await Eventually.UntilAsync(() => _stopped.Count(a => a.Kind == ActivityKind.Consumer) == 2, "the redriven record's process span ended");
        await host.StopAsync();

        var send = _stopped.Single(a => a.DisplayName == $"{topic} send" && a.GetTagItem("reliablekafka.send.reason") is null);
        var processes = _stopped.Where(a => a.Kind == ActivityKind.Consumer).ToList();
        var failed = processes.Single(a => a.Status == ActivityStatusCode.Error);
        var handled = processes.Single(a => a.Status != ActivityStatusCode.Error);
        var deadLetter = _stopped.Single(a => a.DisplayName == $"{deadLetters} send");
        var redriven = _stopped.Single(a => (string?)a.GetTagItem("reliablekafka.send.reason") == "redrive");

        failed.ParentSpanId.Should().Be(send.SpanId);
        deadLetter.ParentSpanId.Should().Be(failed.SpanId, "the dead-letter write happens while the failed record is processed");
        deadLetter.GetTagItem("reliablekafka.send.reason").Should().Be("dead_letter");
        deadLetter.Links.Select(l => l.Context.SpanId).Should().Equal(send.SpanId);
        redriven.Links.Select(l => l.Context.SpanId).Should().Equal(send.SpanId);
        handled.ParentSpanId.Should().Be(send.SpanId, "the dead-letter record and its redriven copy keep the original trace context");
        new[] { failed, deadLetter, handled }.Should().OnlyContain(a => a.TraceId == send.TraceId, "one trace spans producer, consumer, dead letter and the redriven record");
    }

    [Fact]
    public async Task TraceContextLink_TheProcessSpanLinksToTheSendSpan_InATraceOfItsOwn()
    {
        var topic = _kafka.CreateTopic("traced-link", 1);
        _kafka.CreateNamedTopic(topic + ".dlt", 1);
        var group = TestKafka.Unique("group");
        using var listener = Listen(topic);
        using var host = TestHost.BuildConsumer(output, _kafka.BootstrapServers, topic, group, _probe, o => o.TraceContext = TraceContextUse.Link, kafka => kafka.AddProducer<string, string>());
        await host.StartAsync();
        await host.Services.GetRequiredService<IReliableProducer<string, string>>().ProduceAsync(topic, "k", "v");
        await Eventually.UntilAsync(() => _stopped.Any(a => a.Kind == ActivityKind.Consumer), "the process span ended");
        await host.StopAsync();

        var send = _stopped.Single(a => a.Kind == ActivityKind.Producer);
        var process = _stopped.Single(a => a.Kind == ActivityKind.Consumer);
        process.TraceId.Should().NotBe(send.TraceId);
        process.ParentSpanId.Should().Be(default(ActivitySpanId));
        process.Links.Select(l => (l.Context.TraceId, l.Context.SpanId)).Should().Equal((send.TraceId, send.SpanId));
    }

    /// <summary>Records the ReliableKafka spans of one topic and the topics named after it (other tests' spans are ignored).</summary>
    private ActivityListener Listen(string topic)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ReliableKafkaDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.DisplayName.StartsWith(topic + " ", StringComparison.Ordinal) || activity.DisplayName.StartsWith(topic + ".", StringComparison.Ordinal))
                {
                    _stopped.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
