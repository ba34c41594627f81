using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.DependencyInjection.Internal;

namespace ReliableKafka.Tests.Configuration;

public sealed class ReliableKafkaOptionsValidatorTests
{
    private const string Producer = "ReliableKafka:Producers:default";
    private const string Consumer = "ReliableKafka:Consumers:orders";

    [Fact]
    public void Validate_ProducerAndConsumerWithDefaults_Succeeds()
    {
        Validate(o =>
        {
            o.Producers["default"] = new ProducerOptions();
            o.Consumers["orders"] = ValidConsumer();
        }).Should().BeEmpty();
    }

    [Fact]
    public void Validate_NoBootstrapServers_FailsNamingTheOption()
    {
        Validate(o => o.BootstrapServers = " ").Should().Equal(
            "ReliableKafka: BootstrapServers must be set (comma-separated host:port, e.g. localhost:9092).");
    }

    [Fact]
    public void Validate_ExactlyOnceWithoutDeduplicationStore_FailsForEachConsumerNamingHowToAddOne()
    {
        Validate(o =>
        {
            o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
            o.Consumers["orders"] = ValidConsumer();
        }).Should().Equal(
            $"{Consumer}:Deduplication: DeliveryGuarantee ExactlyOnce needs it, but no deduplication store was added: add one with .UseInMemoryDeduplication(), .UseSqliteDeduplication(...) or .UsePostgreSqlDeduplication(...) on AddReliableKafka's builder.");
    }

    [Fact]
    public void Validate_ExactlyOnceWithDeduplicationStore_Succeeds()
    {
        Validate(
            o =>
            {
                o.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
                o.Producers["default"] = new ProducerOptions();
                o.Consumers["orders"] = ValidConsumer();
            },
            store: "InMemory").Should().BeEmpty();
    }

    [Fact]
    public void Validate_ExactlyOnceWithDeduplicationTurnedOff_Fails()
    {
        Validate(
            o =>
            {
                var consumer = ValidConsumer();
                consumer.DeliveryGuarantee = DeliveryGuarantee.ExactlyOnce;
                consumer.Deduplication.Enabled = false;
                o.Consumers["orders"] = consumer;
            },
            store: "InMemory").Should().ContainSingle().Which.Should().StartWith($"{Consumer}:Deduplication: Enabled is false, but DeliveryGuarantee ExactlyOnce needs deduplication");
    }

    [Fact]
    public void Validate_DeduplicationEnabledUnderAtMostOnce_Fails()
    {
        Validate(
            o =>
            {
                var consumer = ValidConsumer();
                consumer.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
                consumer.Deduplication.Enabled = true;
                o.Consumers["orders"] = consumer;
            },
            store: "InMemory").Should().ContainSingle().Which.Should().StartWith($"{Consumer}:Deduplication: Enabled is true, but the consumer's DeliveryGuarantee is AtMostOnce");
    }

    [Fact]
    public void Validate_DeduplicationEnabledWithoutStore_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Deduplication.Enabled = true;
            o.Consumers["orders"] = consumer;
        }).Should().ContainSingle().Which.Should().StartWith($"{Consumer}:Deduplication: Enabled is true, but no deduplication store was added");
    }

    [Fact]
    public void Validate_LeaseDurationTooShort_FailsNamingTheRange()
    {
        Validate(
            o =>
            {
                var consumer = ValidConsumer();
                consumer.Deduplication.LeaseDuration = TimeSpan.FromMilliseconds(10);
                o.Consumers["orders"] = consumer;
            },
            store: "InMemory").Should().Equal($"{Consumer}:Deduplication: LeaseDuration (10 ms) must be between 100 ms and 86400000 ms.");
    }

    [Fact]
    public void Validate_HealthThresholdsOutOfRange_FailNamingTheRange()
    {
        Validate(o =>
        {
            o.Health.BrokersUnreachableAfter = TimeSpan.Zero;
            o.Health.BrokerProbeInterval = TimeSpan.FromMilliseconds(50);
            o.Health.NoProgressAfter = TimeSpan.FromDays(2);
        }).Should().Contain(
            "ReliableKafka:Health: BrokersUnreachableAfter (0 ms) must be between 100 ms and 86400000 ms.",
            "ReliableKafka:Health: BrokerProbeInterval (50 ms) must be between 100 ms and 3600000 ms.",
            "ReliableKafka:Health: NoProgressAfter (172800000 ms) must be between 100 ms and 86400000 ms.");
    }

    [Fact]
    public void Validate_BrokersUnreachableAfterShorterThanTwoProbes_Fails()
    {
        Validate(o =>
        {
            o.Health.BrokerProbeInterval = TimeSpan.FromSeconds(5);
            o.Health.BrokersUnreachableAfter = TimeSpan.FromSeconds(8);
        }).Should().Equal("ReliableKafka:Health: BrokersUnreachableAfter (8000 ms) must be at least twice BrokerProbeInterval (5000 ms).");
    }

    [Fact]
    public void Validate_UndefinedTraceContext_FailsNamingTheChoices()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.TraceContext = (TraceContextUse)9;
            o.Consumers["orders"] = consumer;
        }).Should().Equal($"{Consumer}: TraceContext (9) is not one of Parent, Link, LinkRetries.");
    }

    [Fact]
    public void Validate_UndefinedGuarantee_Fails()
    {
        Validate(o => o.DeliveryGuarantee = (DeliveryGuarantee)7).Should().Equal(
            "ReliableKafka:DeliveryGuarantee (7) is not a known guarantee; use AtMostOnce, AtLeastOnce or ExactlyOnce.");
    }

    [Fact]
    public void Validate_AcksLeaderUnderAtLeastOnce_FailsAsAContradiction()
    {
        Validate(o => o.Producers["default"] = new ProducerOptions { Acks = Acks.Leader }).Should().Equal(
            $"{Producer}: acks=1 (option Acks) contradicts DeliveryGuarantee AtLeastOnce: it requires acks=all; a write acknowledged by fewer replicas is lost if the leader fails.");
    }

    [Fact]
    public void Validate_IdempotenceOffUnderAtLeastOnce_FailsAsAContradiction()
    {
        Validate(o => o.Producers["default"] = Producing(("enable.idempotence", "false"))).Should().Equal(
            $"{Producer}: enable.idempotence=false ({Producer}:Config['enable.idempotence']) contradicts DeliveryGuarantee AtLeastOnce: " +
            "it needs the idempotent producer so that retries neither duplicate nor reorder messages.");
    }

    [Fact]
    public void Validate_NoRetriesUnderAtLeastOnce_FailsAsAContradiction()
    {
        Validate(o => o.Producers["default"] = Producing(("message.send.max.retries", "0"))).Should().Equal(
            $"{Producer}: retries=0 ({Producer}:Config['message.send.max.retries']) contradicts DeliveryGuarantee AtLeastOnce: " +
            "a transient broker error would lose the message; it requires retries.");
    }

    [Fact]
    public void Validate_MoreThanFiveInFlightWithIdempotence_Fails()
    {
        Validate(o => o.Producers["default"] = Producing(("max.in.flight.requests.per.connection", "10"))).Should().Equal(
            $"{Producer}: max.in.flight=10 ({Producer}:Config['max.in.flight.requests.per.connection']) with enable.idempotence=true: " +
            "the idempotent producer allows at most 5 requests in flight per connection.");
    }

    [Fact]
    public void Validate_RetriesWithSeveralInFlightUnderAtMostOnce_FailsNamingDuplicatesAndReordering()
    {
        Validate(o =>
        {
            var producer = Producing(("retries", "3"), ("max.in.flight", "5"));
            producer.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
            o.Producers["default"] = producer;
        }).Should().Equal(
            $"{Producer}: retries=3 ({Producer}:Config['retries']) contradicts DeliveryGuarantee AtMostOnce: a retried message may be written twice, " +
            "and with max.in.flight=5 and no idempotence also out of order; it requires retries=0.");
    }

    [Fact]
    public void Validate_IdempotenceWithAcksZeroUnderAtMostOnce_FailsTwice()
    {
        Validate(o =>
        {
            var producer = Producing(("enable.idempotence", "true"));
            producer.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
            o.Producers["default"] = producer;
        }).Should().Equal(
            $"{Producer}: enable.idempotence=true ({Producer}:Config['enable.idempotence']) contradicts DeliveryGuarantee AtMostOnce: " +
            "the idempotent producer retries, and a retried message may be written twice.",
            $"{Producer}: acks=0 (AtMostOnce preset) with enable.idempotence=true: the idempotent producer requires acks=all.");
    }

    [Fact]
    public void Validate_AtMostOnceWithAcksAll_Succeeds()
    {
        Validate(o => o.Producers["default"] = new ProducerOptions { DeliveryGuarantee = DeliveryGuarantee.AtMostOnce, Acks = Acks.All })
            .Should().BeEmpty();
    }

    [Theory]
    [InlineData("enable.auto.commit")]
    [InlineData("enable.auto.offset.store")]
    public void Validate_AutoCommitOrAutoStoreUnderAtLeastOnce_FailsAsAContradiction(string key)
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Config[key] = "true";
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}: {key}=true ({Consumer}:Config['{key}']) contradicts DeliveryGuarantee AtLeastOnce: offsets are committed only after the handler succeeded.");
    }

    [Fact]
    public void Validate_AutoCommitUnderAtMostOnce_FailsWithTheAtMostOnceReason()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
            consumer.Config["auto.commit.enable"] = "true";
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}: enable.auto.commit=true ({Consumer}:Config['auto.commit.enable']) contradicts DeliveryGuarantee AtMostOnce: " +
            "the consumer commits each record's offset itself, before its handler runs.");
    }

    [Fact]
    public void Validate_HeartbeatAboveAThirdOfSessionTimeout_FailsWithBothValues()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.HeartbeatInterval = TimeSpan.FromSeconds(5);
            consumer.SessionTimeout = TimeSpan.FromSeconds(10);
            o.Consumers["orders"] = consumer;
        }).Should().Equal($"{Consumer}: HeartbeatInterval (5000 ms) must be at most one third of SessionTimeout (10000 ms).");
    }

    [Fact]
    public void Validate_SessionTimeoutAboveMaxPollInterval_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.SessionTimeout = TimeSpan.FromSeconds(60);
            consumer.MaxPollInterval = TimeSpan.FromSeconds(30);
            consumer.RevocationTimeout = TimeSpan.FromSeconds(5);
            o.Consumers["orders"] = consumer;
        }).Should().Equal($"{Consumer}: SessionTimeout (60000 ms) must not exceed MaxPollInterval (30000 ms).");
    }

    [Fact]
    public void Validate_RevocationTimeoutNotBelowMaxPollInterval_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.RevocationTimeout = consumer.MaxPollInterval;
            o.Consumers["orders"] = consumer;
        }).Should().Equal($"{Consumer}: RevocationTimeout (300000 ms) must be shorter than MaxPollInterval (300000 ms).");
    }

    [Fact]
    public void Validate_ConsumerWithoutGroupOrTopics_FailsForBoth()
    {
        Validate(o => o.Consumers["orders"] = new ConsumerOptions()).Should().BeEquivalentTo(
            $"{Consumer}: GroupId must be set.",
            $"{Consumer}: Topics must name at least one topic.");
    }

    [Fact]
    public void Validate_BadTopicNames_FailForEach()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Topics.AddRange(["orders", " ", "bad topic", "^orders-.*"]);
            consumer.DeadLetter.Topic = "dead-letters";
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}: Topics lists 'orders' twice.",
            $"{Consumer}: Topics[2] is empty.",
            $"{Consumer}: Topics[3] ('bad topic') is not a valid topic name: use at most 249 of a-z, A-Z, 0-9, '.', '_' and '-' (or start with '^' for a regular expression).");
    }

    [Fact]
    public void Validate_RegexTopicsWithTheDefaultDeadLetterTopics_FailsAskingForAnExplicitOne()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Topics.Add("^orders-.*");
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}:DeadLetter: Topic must be set when topics are subscribed by regular expression (^orders-.*): the default dead-letter topics (<topic>.dlt) could match it, and dead-lettered records would be consumed again.");
    }

    [Theory]
    [InlineData("orders")]
    [InlineData("orders-dlt")]
    public void Validate_DeadLetterTopicThatTheConsumerReads_Fails(string deadLetterTopic)
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Topics.Add("^orders-.*");
            consumer.DeadLetter.Topic = deadLetterTopic;
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}:DeadLetter: Topic {deadLetterTopic} is one of the consumer's own topics; dead-lettered records would be consumed again.");
    }

    [Fact]
    public void Validate_RetryTopicWithDefaults_Succeeds()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.FailurePolicy = FailurePolicy.RetryTopic;
            o.Consumers["orders"] = consumer;
        }).Should().BeEmpty();
    }

    [Fact]
    public void Validate_RetryTopicMistakes_FailNamingEach()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.FailurePolicy = FailurePolicy.RetryTopic;
            consumer.DeliveryGuarantee = DeliveryGuarantee.AtMostOnce;
            consumer.Topics.Add("orders.retry.orders-service.10s");
            consumer.RetryTopic.Backoffs.AddRange([TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50)]);
            consumer.RetryTopic.ParkingTopic = "orders";
            consumer.RetryTopic.MaxParkedKeysPerPartition = 0;
            o.Consumers["orders"] = consumer;
        }).Should().BeEquivalentTo(
            $"{Consumer}:RetryTopic: MaxParkedKeysPerPartition (0) must be between 1 and 100.",
            $"{Consumer}: FailurePolicy RetryTopic needs AtLeastOnce or ExactlyOnce; AtMostOnce commits records before handling them and does not retry.",
            $"{Consumer}:RetryTopic: Backoffs[1] (00:00:05) must be longer than Backoffs[0] (00:00:10): list the backoffs shortest first, each once.",
            $"{Consumer}:RetryTopic: Backoffs[2] (00:00:00.0500000) must be whole milliseconds from 100 ms to 7 days.",
            $"{Consumer}: Topics has orders.retry.orders-service.10s, which is a retry topic of another of its topics; list source topics only (their retry topics are read too).",
            $"{Consumer}:RetryTopic: ParkingTopic must be a topic of its own: not empty, not one of the consumer's topics or retry topics (leave it unset for <group>.parking).");
    }

    [Fact]
    public void Validate_RetryTopicWithAGroupIdThatCannotBePartOfATopicName_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.GroupId = "order service";
            consumer.FailurePolicy = FailurePolicy.RetryTopic;
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}: GroupId 'order service' is part of the retry topics' names (<topic>.retry.<group>.<backoff>), so FailurePolicy RetryTopic needs it made of a-z, A-Z, 0-9, '.', '_' and '-'.");
    }

    [Fact]
    public void Validate_RetryTopicWithRegexTopics_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.FailurePolicy = FailurePolicy.RetryTopic;
            consumer.Topics.Add("^orders-.*");
            consumer.DeadLetter.Topic = "all.dlt";
            o.Consumers["orders"] = consumer;
        }).Should().Equal(
            $"{Consumer}: FailurePolicy RetryTopic needs its topics by name, not by regular expression (^orders-.*): each topic has retry topics of its own.");
    }

    [Fact]
    public void Validate_BadRetryAndDeadLetterValues_FailWithValueAndRange()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.Retry.MaxAttempts = 0;
            consumer.Retry.InitialDelay = TimeSpan.FromSeconds(10);
            consumer.Retry.MaxDelay = TimeSpan.FromSeconds(1);
            consumer.DeadLetter.MaxErrorMessageLength = 0;
            o.Consumers["orders"] = consumer;
        }).Should().BeEquivalentTo(
            $"{Consumer}:Retry: MaxAttempts (0) must be between 1 and 1000.",
            $"{Consumer}:DeadLetter: MaxErrorMessageLength (0) must be between 16 and 100000.",
            $"{Consumer}:Retry: MaxDelay (1000 ms) must be at least InitialDelay (10000 ms).");
    }

    [Fact]
    public void Validate_UndefinedFailurePolicy_Fails()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.FailurePolicy = (FailurePolicy)9;
            o.Consumers["orders"] = consumer;
        }).Should().Equal($"{Consumer}: FailurePolicy 9 is not one of DeadLetter, PausePartition, StopConsumer, Skip, RetryTopic.");
    }

    [Fact]
    public void Validate_GlobalSettingThatContradictsTheDeadLetterProducer_Fails()
    {
        Validate(o =>
        {
            o.Config["acks"] = "1";
            o.Consumers["orders"] = ValidConsumer();
        }).Should().Contain(e => e.StartsWith($"{Consumer}:DeadLetter (its producer): acks=1", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_OutOfRangeValues_FailWithValueAndRange()
    {
        Validate(o =>
        {
            var consumer = ValidConsumer();
            consumer.CommitInterval = TimeSpan.Zero;
            consumer.MaxConcurrency = 0;
            o.Consumers["orders"] = consumer;
        }).Should().BeEquivalentTo(
            $"{Consumer}: CommitInterval (0 ms) must be between 10 ms and 86400000 ms.",
            $"{Consumer}: MaxConcurrency (0) must be between 1 and 10000.");
    }

    [Fact]
    public void Validate_UnknownRawKey_Fails()
    {
        Validate(o => o.Config["socket.timeout.millis"] = "1000").Should().Equal(
            "ReliableKafka:Config key 'socket.timeout.millis' is not a librdkafka setting.");
    }

    [Fact]
    public void Validate_UnknownConfluentKey_Fails()
    {
        Validate(o => o.Config["dotnet.consumer.frobnicate"] = "1").Should().Equal(
            "ReliableKafka:Config key 'dotnet.consumer.frobnicate' is not a Confluent.Kafka or librdkafka setting.");
    }

    [Fact]
    public void Validate_InvalidRawValue_FailsWithLibrdkafkasReason()
    {
        Validate(o => o.Config["socket.timeout.ms"] = "soon").Should().ContainSingle()
            .Which.Should().StartWith("ReliableKafka:Config socket.timeout.ms=soon is rejected by librdkafka: ")
            .And.Contain("socket.timeout.ms");
    }

    [Fact]
    public void Validate_ValidRawSettings_Succeed()
    {
        Validate(o =>
        {
            o.Config["socket.keepalive.enable"] = "true";
            o.Config["dotnet.cancellation.delay.max.ms"] = "50";
            var consumer = ValidConsumer();
            consumer.Config["isolation.level"] = "read_committed";
            o.Consumers["orders"] = consumer;
        }).Should().BeEmpty();
    }

    [Theory]
    [InlineData("linger.ms", "Linger")]
    [InlineData("queue.buffering.max.ms", "Linger")]
    [InlineData("delivery.timeout.ms", "MessageTimeout")]
    [InlineData("acks", "Acks")]
    [InlineData("compression.codec", "Compression")]
    public void Validate_RawKeyOwnedByAProducerOption_FailsNamingTheOption(string key, string option)
    {
        Validate(o => o.Producers["default"] = Producing((key, "1"))).Should().Contain(
            $"{Producer}:Config key '{key}' is set through the option {option}; set that option instead.");
    }

    [Fact]
    public void Validate_GlobalRawKeyOwnedByAConsumerOption_FailsNamingTheConsumerOption()
    {
        Validate(o => o.Config["session.timeout.ms"] = "10000").Should().Equal(
            "ReliableKafka:Config key 'session.timeout.ms' is set through the option ReliableKafka:Consumers:<name>:SessionTimeout; set that option instead.");
    }

    [Fact]
    public void Validate_GlobalRawKeyOwnedBySecurityOptions_FailsNamingIt()
    {
        Validate(o => o.Config["sasl.password"] = "hunter2").Should().Equal(
            "ReliableKafka:Config key 'sasl.password' is set through the option ReliableKafka:Security:SaslPassword; set that option instead.");
    }

    [Fact]
    public void Validate_AliasAndKeyBothSet_FailsAsADuplicate()
    {
        Validate(o =>
        {
            o.Config["socket.timeout.ms"] = "1000";
            o.Config["metadata.broker.list"] = "a:1";
            o.Config["bootstrap.servers"] = "b:1";
        }).Should().Contain(
            "ReliableKafka:Config sets 'bootstrap.servers' twice, as 'metadata.broker.list' and 'bootstrap.servers' (librdkafka aliases); keep one.");
    }

    [Fact]
    public void Validate_TransactionalId_FailsAsNotSupportedYet()
    {
        Validate(o => o.Producers["default"] = Producing(("transactional.id", "tx-1"))).Should().Equal(
            $"{Producer}:Config key 'transactional.id': transactional producers are not supported yet (Kafka-to-Kafka transactions come in a later release).");
    }

    [Fact]
    public void Validate_DeliveryReportsOff_Fails()
    {
        Validate(o => o.Producers["default"] = Producing(("dotnet.producer.enable.delivery.reports", "false"))).Should().Equal(
            $"{Producer}:Config dotnet.producer.enable.delivery.reports=false: ProduceAsync completes on delivery reports; they cannot be turned off.");
    }

    [Fact]
    public void Validate_DeliveryReportOnlyError_FailsBecauseSuccessfulSendsWouldNeverComplete()
    {
        Validate(o => o.Producers["default"] = Producing(("delivery.report.only.error", "true"))).Should().Equal(
            $"{Producer}:Config delivery.report.only.error=true: ProduceAsync completes on delivery reports; with only failures reported, a successful send would never complete.");
    }

    [Fact]
    public void Validate_BackgroundPollOffInTheGlobalConfig_FailsBecauseItReachesEveryProducer()
    {
        Validate(o => o.Config["dotnet.producer.enable.background.poll"] = "false").Should().Equal(
            "ReliableKafka:Config dotnet.producer.enable.background.poll=false: delivery reports would be served only by Flush, so ProduceAsync would not complete until then; the producer must poll in the background.");
    }

    [Theory]
    [InlineData("topic.message.timeout.ms", "ReliableKafka:Producers:<name>:MessageTimeout")]
    [InlineData("topic.auto.offset.reset", "ReliableKafka:Consumers:<name>:AutoOffsetReset")]
    [InlineData("topic.request.required.acks", "ReliableKafka:Producers:<name>:Acks")]
    public void Validate_TopicPrefixedKeyOfATypedOption_FailsLikeTheKeyWithoutThePrefix(string key, string owner)
    {
        Validate(o => o.Config[key] = "1000").Should().Equal($"ReliableKafka:Config key '{key}' is set through the option {owner}; set that option instead.");
    }

    [Fact]
    public void Validate_TopicPrefixedAndPlainKeyBothSet_FailsAsADuplicate()
    {
        Validate(o => o.Producers["default"] = Producing(("topic.partitioner", "murmur2"), ("partitioner", "random"))).Should().Contain(
            $"{Producer}:Config sets 'partitioner' twice, as 'topic.partitioner' and 'partitioner' (librdkafka aliases); keep one.");
    }

    [Fact]
    public void Validate_GlobalSettingThatStartsWithTopic_IsNotMistakenForATopicSetting()
    {
        Validate(o => o.Config["topic.metadata.refresh.interval.ms"] = "1000").Should().BeEmpty();
    }

    [Fact]
    public void Validate_ConfiguredClientsThatWereNeverAdded_FailAsLikelyTypos()
    {
        var failures = Validate(
            o =>
            {
                o.Producers["audit"] = new ProducerOptions();
                o.Consumers["payments"] = ValidConsumer();
            },
            registerClients: false);

        failures.Should().Equal(
            "ReliableKafka:Producers:audit is configured, but no producer of that name was added with AddProducer.",
            "ReliableKafka:Consumers:payments is configured, but no consumer of that name was added with AddConsumer.");
    }

    [Fact]
    public void Validate_SecretValues_NeverAppearInMessages()
    {
        var failures = Validate(o =>
        {
            o.Security.SaslPassword = "hunter2";
            o.Config["sasl.password"] = "hunter2";
            o.Config["my.password"] = "hunter2";
            o.Config["ssl.key.password"] = "hunter2";
        });

        failures.Should().HaveCount(3).And.OnlyContain(f => !f.Contains("hunter2"));
    }

    [Fact]
    public void BuildProducer_AtLeastOnce_SetsTheIdempotentPreset()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "k:9092" };

        var config = KafkaClientConfigBuilder.BuildProducer(options, "default", new ProducerOptions());

        config.Errors.Should().BeEmpty();
        config.Guarantee.Should().Be(DeliveryGuarantee.AtLeastOnce);
        config.Values.Should().Contain(new Dictionary<string, string>
        {
            ["bootstrap.servers"] = "k:9092",
            ["client.id"] = "reliablekafka-default",
            ["acks"] = "all",
            ["enable.idempotence"] = "true",
            ["max.in.flight"] = "5",
            ["retries"] = "2147483647",
            ["linger.ms"] = "5",
            ["message.timeout.ms"] = "300000",
            ["compression.type"] = "none",
        });
    }

    [Fact]
    public void BuildProducer_AtMostOnce_SetsTheFireAndForgetPreset()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "k:9092", DeliveryGuarantee = DeliveryGuarantee.AtMostOnce };

        var config = KafkaClientConfigBuilder.BuildProducer(options, "metrics", new ProducerOptions());

        config.Errors.Should().BeEmpty();
        config.Values.Should().Contain(new Dictionary<string, string> { ["acks"] = "0", ["enable.idempotence"] = "false", ["retries"] = "0" });
    }

    [Fact]
    public void BuildConsumer_Defaults_TurnsAutoCommitOffAndUsesCooperativeSticky()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "k:9092", ClientId = "shop" };

        var config = KafkaClientConfigBuilder.BuildConsumer(options, "orders", ValidConsumer());

        config.Errors.Should().BeEmpty();
        config.Values.Should().Contain(new Dictionary<string, string>
        {
            ["group.id"] = "orders-service",
            ["client.id"] = "shop-orders",
            ["enable.auto.commit"] = "false",
            ["enable.auto.offset.store"] = "false",
            ["auto.offset.reset"] = "earliest",
            ["partition.assignment.strategy"] = "cooperative-sticky",
            ["session.timeout.ms"] = "45000",
            ["heartbeat.interval.ms"] = "3000",
            ["max.poll.interval.ms"] = "300000",
        });
    }

    [Fact]
    public void BuildConsumer_SecurityOptions_MapToLibrdkafkaAndAreRedactedWhenPrinted()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "k:9093" };
        options.Security.Protocol = SecurityProtocol.SaslSsl;
        options.Security.SaslMechanism = SaslMechanism.ScramSha512;
        options.Security.SaslUsername = "svc";
        options.Security.SaslPassword = "hunter2";

        var config = KafkaClientConfigBuilder.BuildConsumer(options, "orders", ValidConsumer());

        config.Values.Should().Contain(new Dictionary<string, string>
        {
            ["security.protocol"] = "sasl_ssl",
            ["sasl.mechanism"] = "SCRAM-SHA-512",
            ["sasl.username"] = "svc",
            ["sasl.password"] = "hunter2",
        });
        config.ToString().Should().Contain("sasl.password=***").And.Contain("sasl.username=svc").And.NotContain("hunter2");
    }

    private static ConsumerOptions ValidConsumer()
    {
        var consumer = new ConsumerOptions { GroupId = "orders-service" };
        consumer.Topics.Add("orders");
        return consumer;
    }

    private static ProducerOptions Producing(params (string Key, string Value)[] settings)
    {
        var producer = new ProducerOptions();
        foreach (var (key, value) in settings)
        {
            producer.Config[key] = value;
        }

        return producer;
    }

    private static List<string> Validate(Action<ReliableKafkaOptions> configure, bool registerClients = true, string? store = null)
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "localhost:9092" };
        configure(options);
        var registry = new ReliableKafkaRegistry();
        if (store is not null)
        {
            registry.SetDeduplicationStore(store);
        }

        if (registerClients)
        {
            foreach (var name in options.Producers.Keys)
            {
                registry.AddProducer(name, typeof(string), typeof(string));
            }

            foreach (var name in options.Consumers.Keys)
            {
                registry.AddConsumer(name);
            }
        }

        var result = new ReliableKafkaOptionsValidator(registry).Validate(Options.DefaultName, options);
        return result.Failures?.ToList() ?? [];
    }
}
