using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReliableKafka.Consuming.Internal;
using ReliableKafka.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ReliableKafka.IntegrationTests.Delay;

/// <summary>Scheduled messages through short delay tiers (200 ms, 500 ms, 1 s) on the embedded cluster.</summary>
public sealed class DelayedDeliveryTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan[] Tiers = [TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1)];

    private readonly TestKafka _kafka = TestKafka.Start(brokers: 1);
    private readonly string _prefix = TestKafka.Unique("delay");
    private readonly ConcurrentQueue<Delivery> _deliveries = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task ScheduledMessages_AreDeliveredOnceEachNeverBeforeDueAndInDueOrderPerKeyWhenFarEnoughApart()
    {
        var target = CreateTopics();
        using var metrics = new DelayMetricsProbe(target, _prefix);
        using var host = BuildHost(target);
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IMessageScheduler<string, string>>();
        var due = new Dictionary<string, DateTimeOffset>();
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < 120; i++)
        {
            // Ten keys; a key's messages are due 400 ms apart, in shuffled scheduling order.
            var key = $"k{i % 10}";
            var slot = (i * 7 % 12) + 1;
            var result = await scheduler.ScheduleAsync(target, key, $"{key}:{slot}", start + TimeSpan.FromMilliseconds(400 * slot));
            due[result.ScheduleId] = result.DueAt;
        }

        await Eventually.UntilAsync(() => metrics.Waiting > 0, "the forwarder reports records waiting in the tiers");
        await Eventually.UntilAsync(() => _deliveries.Count >= 120, "every scheduled message is delivered", TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await host.StopAsync();

        metrics.Delivered.Should().Be(120);
        metrics.LatenessCount.Should().Be(120);
        metrics.LatenessMinimum.Should().BeGreaterThanOrEqualTo(0, "lateness is measured after the target acknowledged");

        var deliveries = _deliveries.ToList();
        deliveries.Select(d => d.ScheduleId).Should().OnlyHaveUniqueItems("each message is delivered once").And.BeEquivalentTo(due.Keys);
        deliveries.Should().OnlyContain(d => d.ReceivedAt >= due[d.ScheduleId!], "no message is delivered before it is due");
        var lateness = deliveries.Select(d => (d.ReceivedAt - due[d.ScheduleId!]).TotalMilliseconds).Order().ToList();
        output.WriteLine($"lateness p50 {lateness[lateness.Count / 2]:F0} ms, max {lateness[^1]:F0} ms");
        // Messages of a key arrive in due order when their due times lie further apart than the lateness (at most about
        // the shortest tier here, but a loaded test run stretches it: 2 s leaves room for that).
        foreach (var key in deliveries.GroupBy(d => d.Key))
        {
            var dues = key.Select(d => due[d.ScheduleId!]).ToList();
            for (var i = 0; i < dues.Count; i++)
            {
                dues.Skip(i + 1).Should().NotContain(
                    later => dues[i] - later > TimeSpan.FromSeconds(2), $"key {key.Key}'s message due at {dues[i]:HH:mm:ss.fff} arrived before one due 2 s or more earlier");
            }
        }
    }

    [Fact]
    public async Task CancelledBeforeDue_IsNeverDelivered_AndACancelAfterDeliveryIsTooLate()
    {
        var target = CreateTopics();
        using var host = BuildHost(target);
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IMessageScheduler<string, string>>();

        // A cancellation of a message due at the end of time: remembered for ever, it must not stop the forwarders' reader.
        (await scheduler.CancelAsync(new string('a', 32) + "-" + DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())).Should().Be(ScheduleCancellation.Cancelled);
        var scheduled = new List<ScheduleResult>();
        for (var i = 0; i < 40; i++)
        {
            scheduled.Add(await scheduler.ScheduleAsync(target, $"order-{i}", "unpaid", TimeSpan.FromSeconds(3)));
        }

        var cancelled = scheduled.Where((_, i) => i % 2 == 0).ToList();
        foreach (var schedule in cancelled)
        {
            (await scheduler.CancelAsync(schedule.ScheduleId)).Should().Be(ScheduleCancellation.Cancelled);
        }

        await Eventually.UntilAsync(() => _deliveries.Count >= 20, "the messages not cancelled are delivered", TimeSpan.FromSeconds(30));
        await Task.Delay(1500);
        var late = scheduled[1];
        var tooLate = await scheduler.CancelAsync(late.ScheduleId);
        var act = () => scheduler.CancelAsync("not-a-schedule-id");
        await host.StopAsync();

        _deliveries.Select(d => d.ScheduleId).Should().BeEquivalentTo(scheduled.Except(cancelled).Select(s => s.ScheduleId), "cancelled messages are dropped, the others delivered once");
        tooLate.Should().Be(ScheduleCancellation.TooLate, "it was delivered already");
        await act.Should().ThrowAsync<ArgumentException>();
    }

    [Fact]
    public async Task ClusterUnreachableAtStartup_TheHostStartsAndSaysTheTopicsWereNotChecked()
    {
        var logs = new LogCapture();
        using var host = TestHost.Build(
            output,
            services => services.AddReliableKafka(o => o.BootstrapServers = "127.0.0.1:1")
                .AddDelayedDelivery(o =>
                {
                    o.TopicPrefix = _prefix;
                    o.CreateTopics = true; // tried again in the background until the cluster answers (here: until the host stops)
                    TestHost.FastGroup(o.Forwarder);
                })
                .Services.AddHealthChecks().AddReliableKafka(),
            logs);

        await host.StartAsync();
        var health = host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>();
        await Eventually.UntilAsync(
            async () => (await health.CheckHealthAsync()).Entries["reliablekafka"].Description?.Contains("cancellation topic cannot be read", StringComparison.Ordinal) == true,
            "the forwarder reports that it cannot read cancellations");
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync();
        stopping.Stop();

        logs.Entries.Should().Contain(e => e.EventId == 2053, "the topics could not be checked, and the host started anyway");
        logs.Entries.Count(e => e.EventId == 2048).Should().BeLessThanOrEqualTo(1, "a lasting failure of the cancellation reader is logged once a minute, not at each retry");
        stopping.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), "stopping does not wait for the cluster");
    }

    [Fact]
    public async Task CancellationTopicUnreadable_DueMessagesWaitAndTheHealthCheckSaysWhy_ThenArriveOnce()
    {
        var target = CreateTopics();
        using var host = BuildHost(target, health: true);
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IMessageScheduler<string, string>>();
        var health = host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>();
        var warmUp = await scheduler.ScheduleAsync(target, "k", "warm-up", TimeSpan.FromMilliseconds(300));
        await Eventually.UntilAsync(() => !_deliveries.IsEmpty, "a first message went through (every consumer is fetching)");
        var scheduled = await scheduler.ScheduleAsync(target, "k", "v", TimeSpan.FromSeconds(3));

        // Every look-up of the cancellation topic's end offsets fails until the errors are cleared. At the due time the
        // forwarder needs a round begun after due - CancellationMargin / 2 (1 s after scheduling); none completes, so it
        // cannot know whether the message was cancelled, and does not deliver it.
        _kafka.Cluster!.InjectRequestErrors(ReliableKafka.Testing.KafkaApi.ListOffsets, [.. Enumerable.Repeat(Confluent.Kafka.ErrorCode.TopicAuthorizationFailed, 100_000)]);

        await Eventually.UntilAsync(
            async () => (await health.CheckHealthAsync()).Entries["reliablekafka"].Description?.Contains("cancellation topic cannot be read", StringComparison.Ordinal) == true,
            "the health check reports the unreadable cancellation topic",
            TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(1) + (scheduled.DueAt - DateTimeOffset.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero));
        var deliveredWhileUnreadable = _deliveries.Count - 1;
        _kafka.Cluster.ClearRequestErrors(ReliableKafka.Testing.KafkaApi.ListOffsets);
        await Eventually.UntilAsync(() => _deliveries.Count >= 2, "the message is delivered once the topic can be read again", TimeSpan.FromSeconds(60));
        await Eventually.UntilAsync(
            async () => (await health.CheckHealthAsync()).Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, "healthy again", TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await host.StopAsync();

        deliveredWhileUnreadable.Should().Be(0, "a due message waits while cancellations cannot be read");
        _deliveries.Select(d => d.ScheduleId).Should().Equal(warmUp.ScheduleId, scheduled.ScheduleId);
    }

    [Fact]
    public async Task ForwarderCrashesMidCascade_AnotherResumesAndEveryMessageArrivesOnTimeOnceAtTheIdempotentConsumer()
    {
        var target = CreateTopics();
        var group = TestKafka.Unique("forwarders");
        using var first = BuildHost(target, group, consume: false);
        await first.StartAsync();
        var scheduler = first.Services.GetRequiredService<IMessageScheduler<string, string>>();
        var due = new Dictionary<string, DateTimeOffset>();
        for (var i = 0; i < 60; i++)
        {
            var result = await scheduler.ScheduleAsync(target, $"k{i % 6}", $"m{i}", TimeSpan.FromMilliseconds(1500 + (i * 50)));
            due[result.ScheduleId] = result.DueAt;
        }

        await Task.Delay(700);
        await Forwarder(first).CrashAsync();
        using var second = BuildHost(target, group);
        await second.StartAsync();
        await Eventually.UntilAsync(() => _deliveries.Select(d => d.ScheduleId).Distinct().Count() >= 60, "every message arrives", TimeSpan.FromSeconds(60));
        await Task.Delay(500);
        await second.StopAsync();
        await first.StopAsync();

        var deliveries = _deliveries.ToList();
        deliveries.Select(d => d.ScheduleId).Should().OnlyHaveUniqueItems("the idempotent consumer handles a message forwarded twice once").And.BeEquivalentTo(due.Keys);
        deliveries.Should().OnlyContain(d => d.ReceivedAt >= due[d.ScheduleId!], "no message is delivered before it is due");
    }

    [Fact]
    public async Task MissingDelayTopics_FailTheStartNamingThem_AlsoWhenTheClusterCannotCreateThem()
    {
        // librdkafka's mock cluster has no controller and cannot create topics (a real cluster creates them when
        // CreateTopics is set; tests create them with the embedded cluster): both starts fail naming every topic.
        var target = _kafka.CreateTopic("target", 1);
        var options = new DelayedDeliveryOptions { TopicPrefix = _prefix };
        options.Tiers.AddRange(Tiers);
        foreach (var createTopics in new[] { false, true })
        {
            using var host = BuildHost(target, configure: o => o.CreateTopics = createTopics);
            var start = () => host.StartAsync();

            var error = (await start.Should().ThrowAsync<InvalidOperationException>()).Which;
            error.Message.Should().Contain(createTopics ? "could not be created" : "set CreateTopics");
            foreach (var topic in options.RequiredTopics())
            {
                error.Message.Should().Contain(topic);
            }
        }
    }

    private static ConsumerEngine Forwarder(IHost host) =>
        host.Services.GetServices<IHostedService>().OfType<IReliableConsumerService>().Single(s => s.Name == "reliablekafka-delay-forwarder").Engine!;

    private string CreateTopics()
    {
        var options = new DelayedDeliveryOptions { TopicPrefix = _prefix };
        options.Tiers.AddRange(Tiers);
        foreach (var topic in options.RequiredTopics())
        {
            _kafka.CreateNamedTopic(topic, 2);
        }

        return _kafka.CreateTopic("target", 3);
    }

    /// <summary>A host with a forwarder, and (unless <paramref name="consume"/> is false) the target's idempotent consumer.</summary>
    private IHost BuildHost(string target, string? forwarderGroup = null, bool consume = true, Action<DelayedDeliveryOptions>? configure = null, bool health = false) =>
        TestHost.Build(output, services =>
        {
            services.AddSingleton(_deliveries);
            if (health)
            {
                services.AddHealthChecks().AddReliableKafka();
            }

            var kafka = services.AddReliableKafka(o => o.BootstrapServers = _kafka.BootstrapServers)
                .AddDelayedDelivery(o =>
                {
                    o.TopicPrefix = _prefix;
                    o.Tiers.AddRange(Tiers);
                    o.Forwarder.GroupId = forwarderGroup;
                    TestHost.FastGroup(o.Forwarder);
                    o.Forwarder.FetchWaitMax = TimeSpan.FromMilliseconds(20);
                    configure?.Invoke(o);
                });
            if (consume)
            {
                kafka.AddConsumer<string, string, DeliveryHandler>("target", o =>
                    {
                        o.GroupId = _prefix + "-target";
                        o.Topics.Add(target);
                        TestHost.FastGroup(o);
                        o.FetchWaitMax = TimeSpan.FromMilliseconds(20);
                    })
                    .UseInMemoryDeduplication();
            }
        });

    /// <summary>The delayed delivery's instruments for one target topic and one prefix's tier topics.</summary>
    private sealed class DelayMetricsProbe : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _delivered;
        private long _latenessCount;
        private double _latenessMinimum = double.MaxValue;
        private long _waiting;

        public DelayMetricsProbe(string target, string prefix)
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == "ReliableKafka" && i.Name.StartsWith("reliablekafka.delay.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(i);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
            {
                var destination = Destination(tags);
                if (i.Name == "reliablekafka.delay.delivered" && destination == target)
                {
                    Interlocked.Add(ref _delivered, value);
                }
                else if (i.Name == "reliablekafka.delay.waiting" && destination?.StartsWith(prefix, StringComparison.Ordinal) == true && value > 0)
                {
                    Interlocked.Exchange(ref _waiting, value);
                }
            });
            _listener.SetMeasurementEventCallback<double>((i, value, tags, _) =>
            {
                if (i.Name == "reliablekafka.delay.lateness" && Destination(tags) == target)
                {
                    lock (_listener)
                    {
                        _latenessCount++;
                        _latenessMinimum = Math.Min(_latenessMinimum, value);
                    }
                }
            });
            _listener.Start();
        }

        public long Delivered => Interlocked.Read(ref _delivered);

        public long LatenessCount
        {
            get
            {
                lock (_listener)
                {
                    return _latenessCount;
                }
            }
        }

        public double LatenessMinimum
        {
            get
            {
                lock (_listener)
                {
                    return _latenessMinimum;
                }
            }
        }

        public long Waiting
        {
            get
            {
                _listener.RecordObservableInstruments();
                return Interlocked.Read(ref _waiting);
            }
        }

        public void Dispose() => _listener.Dispose();

        private static string? Destination(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.destination.name")
                {
                    return tag.Value as string;
                }
            }

            return null;
        }
    }

    private sealed record Delivery(string Key, string Value, string? ScheduleId, DateTimeOffset ReceivedAt);

    private sealed class DeliveryHandler(ConcurrentQueue<Delivery> deliveries) : IMessageHandler<string, string>
    {
        public Task HandleAsync(MessageContext<string, string> context, CancellationToken cancellationToken)
        {
            deliveries.Enqueue(new Delivery(context.Key, context.Value, context.MessageId, DateTimeOffset.UtcNow));
            return Task.CompletedTask;
        }
    }
}
