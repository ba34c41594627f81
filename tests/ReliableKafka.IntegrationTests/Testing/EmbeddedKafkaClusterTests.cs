using System.Diagnostics;
using Confluent.Kafka;
using ReliableKafka.IntegrationTests.Infrastructure;
using ReliableKafka.Testing;

namespace ReliableKafka.IntegrationTests.Testing;

/// <summary>Each capability of the embedded cluster, shown through its effect on a real Confluent.Kafka client.</summary>
public sealed class EmbeddedKafkaClusterTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly EmbeddedKafkaCluster _cluster = new();

    public void Dispose() => _cluster.Dispose();

    [Fact]
    public void Constructor_DefaultOptions_ServesThreeBrokersAtBootstrapServers()
    {
        using var admin = Admin();

        var metadata = admin.GetMetadata(Timeout);

        metadata.Brokers.Select(b => b.BrokerId).Should().BeEquivalentTo([1, 2, 3]);
        _cluster.BrokerCount.Should().Be(3);
        _cluster.BootstrapServers.Split(',').Should().HaveCount(3).And.AllSatisfy(s => s.Should().StartWith("127.0.0.1:"));
    }

    [Fact]
    public void Constructor_BrokerCountBelowOne_ThrowsArgumentOutOfRange()
    {
        var act = () => new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 0 });

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options");
    }

    [Fact]
    public void Constructor_NullOptions_ThrowsArgumentNull()
    {
        var act = () => new EmbeddedKafkaCluster(null!);

        act.Should().Throw<ArgumentNullException>().WithParameterName("options");
    }

    [Fact]
    public async Task CreateTopic_SixPartitions_ClientsSeeSixPartitionsAndRoundTripWorks()
    {
        _cluster.CreateTopic("orders", partitions: 6);
        using var admin = Admin();
        using var producer = KafkaClients.Producer(_cluster.BootstrapServers);

        var partitions = admin.GetMetadata("orders", Timeout).Topics.Single().Partitions;
        var report = await producer.ProduceAsync(new TopicPartition("orders", 5), new Message<string, string> { Key = "k", Value = "v" });
        var read = KafkaClients.ReadAll(_cluster.BootstrapServers, "orders", 1);

        partitions.Should().HaveCount(6);
        report.Status.Should().Be(PersistenceStatus.Persisted);
        read.Should().ContainSingle().Which.Message.Value.Should().Be("v");
        read[0].Partition.Value.Should().Be(5);
    }

    [Fact]
    public void CreateTopic_Twice_ThrowsTopicAlreadyExists()
    {
        _cluster.CreateTopic("twice", 1);

        var act = () => _cluster.CreateTopic("twice", 1);

        act.Should().Throw<EmbeddedKafkaClusterException>()
            .Where(e => e.ErrorCode == ErrorCode.TopicAlreadyExists && e.Message.Contains("Creating topic 'twice'"));
    }

    [Fact]
    public void DeleteTopic_Existing_MetadataNoLongerListsIt()
    {
        _cluster.CreateTopic("doomed", 2);
        _cluster.CreateTopic("kept", 1);
        using var admin = Admin();
        admin.GetMetadata(Timeout).Topics.Select(t => t.Topic).Should().Contain("doomed");

        _cluster.DeleteTopic("doomed");

        admin.GetMetadata(Timeout).Topics.Select(t => t.Topic).Should().NotContain("doomed").And.Contain("kept");
    }

    [Fact]
    public async Task SetBrokerDown_LeaderOfPartition_StallsProduceUntilSetBrokerUp()
    {
        var (leader, producer) = await StartTopicAsync("stall", "before");
        using var disposeProducer = producer;

        _cluster.SetBrokerDown(leader);
        var produce = producer.ProduceAsync("stall", new Message<string, string> { Key = "k", Value = "during" });
        var stalled = await Task.WhenAny(produce, Task.Delay(TimeSpan.FromSeconds(2))) != produce;
        _cluster.SetBrokerUp(leader);
        var report = await produce.WaitAsync(TimeSpan.FromSeconds(30));

        stalled.Should().BeTrue("the partition's leader is down and leadership does not move by itself");
        report.Status.Should().Be(PersistenceStatus.Persisted);
        KafkaClients.ReadAll(_cluster.BootstrapServers, "stall", 2).Select(r => r.Message.Value).Should().Equal("before", "during");
    }

    [Fact]
    public void SetBrokerDown_UnknownBroker_ThrowsWithErrorCode()
    {
        var act = () => _cluster.SetBrokerDown(42);

        act.Should().Throw<EmbeddedKafkaClusterException>().Where(e => e.Message.Contains("broker 42"));
    }

    [Fact]
    public async Task SetPartitionLeader_OtherBroker_MetadataShowsItAndProduceFollows()
    {
        _cluster.CreateTopic("moving", 1);
        using var admin = Admin();
        var before = admin.GetMetadata("moving", Timeout).Topics[0].Partitions[0].Leader;
        var target = before % 3 + 1;
        _cluster.StartRequestTracking();

        _cluster.SetPartitionLeader("moving", 0, target);
        using var producer = KafkaClients.Producer(_cluster.BootstrapServers);
        await producer.ProduceAsync("moving", new Message<string, string> { Key = "k", Value = "v" });

        admin.GetMetadata("moving", Timeout).Topics[0].Partitions[0].Leader.Should().Be(target);
        _cluster.GetRequests().Where(r => r.Api == KafkaApi.Produce).Should().NotBeEmpty()
            .And.OnlyContain(r => r.BrokerId == target, "produce requests go to the new leader");
    }

    [Fact]
    public void GetPartitionLeader_AfterSetPartitionLeader_ReturnsTheNewLeaderOfThatPartitionOnly()
    {
        _cluster.CreateTopic("led", 2);
        var before = _cluster.GetPartitionLeader("led", 0);
        var other = _cluster.GetPartitionLeader("led", 1);
        var target = before % 3 + 1;

        _cluster.SetPartitionLeader("led", 0, target);

        before.Should().BeInRange(1, 3);
        _cluster.GetPartitionLeader("led", 0).Should().Be(target);
        _cluster.GetPartitionLeader("led", 1).Should().Be(other);
        var act = () => _cluster.GetPartitionLeader("led", 5);
        act.Should().Throw<EmbeddedKafkaClusterException>().WithMessage("Topic 'led' has no partition 5 (it has 2).");
    }

    [Fact]
    public async Task SetBrokerRoundTripTime_OnLeader_DelaysAcknowledgements()
    {
        var (leader, producer) = await StartTopicAsync("slow", "warm-up");
        using var disposeProducer = producer;

        _cluster.SetBrokerRoundTripTime(leader, TimeSpan.FromMilliseconds(800));
        var watch = Stopwatch.StartNew();
        await producer.ProduceAsync("slow", new Message<string, string> { Key = "k", Value = "v" });
        watch.Stop();

        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(700));
    }

    [Fact]
    public async Task InjectRequestErrors_NotLeaderOnProduce_IdempotentProducerRetriesAndSucceeds()
    {
        var (_, producer) = await StartTopicAsync("retry");
        using var disposeProducer = producer;
        _cluster.StartRequestTracking();

        _cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.NotLeaderForPartition, ErrorCode.NotLeaderForPartition, ErrorCode.NotLeaderForPartition);
        var report = await producer.ProduceAsync("retry", new Message<string, string> { Key = "k", Value = "v" });

        report.Status.Should().Be(PersistenceStatus.Persisted);
        _cluster.GetRequests().Count(r => r.Api == KafkaApi.Produce).Should().BeGreaterThanOrEqualTo(4, "three failed attempts, then the one that succeeded");
        KafkaClients.ReadAll(_cluster.BootstrapServers, "retry", 2).Select(r => r.Message.Value).Should().Equal("warm-up", "v");
    }

    [Fact]
    public async Task InjectRequestErrors_NonRetriableError_SurfacesInTheProducer()
    {
        var (_, producer) = await StartTopicAsync("denied");
        using var disposeProducer = producer;

        _cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed);
        var act = () => producer.ProduceAsync("denied", new Message<string, string> { Key = "k", Value = "v" });

        (await act.Should().ThrowAsync<ProduceException<string, string>>()).Which.Error.Code.Should().Be(ErrorCode.TopicAuthorizationFailed);
    }

    [Fact]
    public async Task ClearRequestErrors_PendingErrors_AreNotReturned()
    {
        var (_, producer) = await StartTopicAsync("cleared");
        using var disposeProducer = producer;
        _cluster.InjectRequestErrors(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed);

        _cluster.ClearRequestErrors(KafkaApi.Produce);
        var report = await producer.ProduceAsync("cleared", new Message<string, string> { Key = "k", Value = "v" });

        report.Status.Should().Be(PersistenceStatus.Persisted);
    }

    [Fact]
    public async Task InjectRequestErrors_BrokerLevelWithDelay_DelaysThatResponseAndIsConsumed()
    {
        var (leader, producer) = await StartTopicAsync("delayed", "warm-up");
        using var disposeProducer = producer;

        _cluster.InjectRequestErrors(leader, KafkaApi.Produce, new InjectedError(ErrorCode.NoError, TimeSpan.FromSeconds(1)));
        var pendingBefore = _cluster.GetPendingRequestErrorCount(leader, KafkaApi.Produce);
        var watch = Stopwatch.StartNew();
        var report = await producer.ProduceAsync("delayed", new Message<string, string> { Key = "k", Value = "v" });
        watch.Stop();

        pendingBefore.Should().Be(1);
        _cluster.GetPendingRequestErrorCount(leader, KafkaApi.Produce).Should().Be(0);
        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(900));
        report.Status.Should().Be(PersistenceStatus.Persisted);
    }

    [Fact]
    public async Task InjectRequestErrors_BrokerLevelError_IsReturnedByThatBroker()
    {
        var (leader, producer) = await StartTopicAsync("broker-error", "warm-up");
        using var disposeProducer = producer;

        _cluster.InjectRequestErrors(leader, KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed);
        var act = () => producer.ProduceAsync("broker-error", new Message<string, string> { Key = "k", Value = "v" });

        (await act.Should().ThrowAsync<ProduceException<string, string>>()).Which.Error.Code.Should().Be(ErrorCode.TopicAuthorizationFailed);
    }

    [Fact]
    public async Task InjectPartitionRequestErrors_OnOnePartition_AreRetriedForThatPartitionOnly()
    {
        _cluster.CreateTopic("partition-errors", 2);
        using var producer = KafkaClients.Producer(_cluster.BootstrapServers);
        await producer.ProduceAsync(new TopicPartition("partition-errors", 0), new Message<string, string> { Key = "k", Value = "warm-up" });
        _cluster.StartRequestTracking();

        _cluster.InjectPartitionRequestErrors("partition-errors", 0, KafkaApi.Produce, ErrorCode.NotLeaderForPartition, ErrorCode.NotLeaderForPartition);
        var other = await producer.ProduceAsync(new TopicPartition("partition-errors", 1), new Message<string, string> { Key = "k", Value = "p1" });
        var retried = await producer.ProduceAsync(new TopicPartition("partition-errors", 0), new Message<string, string> { Key = "k", Value = "p0" });

        other.Status.Should().Be(PersistenceStatus.Persisted);
        retried.Status.Should().Be(PersistenceStatus.Persisted);
        _cluster.GetRequests().Count(r => r.Api == KafkaApi.Produce).Should().BeGreaterThanOrEqualTo(4, "one for partition 1, two failed and one successful for partition 0");
    }

    [Fact]
    public async Task SetCoordinator_Group_SendsThatGroupsRequestsToTheChosenBroker()
    {
        _cluster.CreateTopic("coordinated", 1);
        using (var producer = KafkaClients.Producer(_cluster.BootstrapServers))
        {
            await producer.ProduceAsync("coordinated", new Message<string, string> { Key = "k", Value = "v" });
        }

        _cluster.SetCoordinator(CoordinatorType.Group, "coordinated-group", 3);
        _cluster.StartRequestTracking();
        using var consumer = KafkaClients.Consumer(_cluster.BootstrapServers, "coordinated-group");
        consumer.Subscribe("coordinated");
        var record = await Eventually.UntilAsync(() => consumer.Consume(TimeSpan.FromMilliseconds(100)), "the record arrives");
        consumer.Commit(record);
        consumer.Close();

        var groupRequests = _cluster.GetRequests()
            .Where(r => r.Api is KafkaApi.JoinGroup or KafkaApi.SyncGroup or KafkaApi.OffsetCommit or KafkaApi.LeaveGroup)
            .ToList();
        groupRequests.Should().Contain(r => r.Api == KafkaApi.OffsetCommit).And.OnlyContain(r => r.BrokerId == 3);
    }

    [Fact]
    public async Task GetRequests_WhileTracking_RecordsApiBrokerAndMonotonicTime()
    {
        var (leader, producer) = await StartTopicAsync("tracked", "warm-up");
        using var disposeProducer = producer;

        var before = Stopwatch.GetTimestamp();
        _cluster.StartRequestTracking();
        await producer.ProduceAsync("tracked", new Message<string, string> { Key = "k", Value = "v1" });
        await producer.ProduceAsync("tracked", new Message<string, string> { Key = "k", Value = "v2" });
        var whileTracking = _cluster.GetRequests();
        var recorded = _cluster.StopRequestTracking();
        var after = Stopwatch.GetTimestamp();
        await producer.ProduceAsync("tracked", new Message<string, string> { Key = "k", Value = "untracked" });

        var produces = recorded.Where(r => r.Api == KafkaApi.Produce).ToList();
        produces.Should().HaveCount(2).And.OnlyContain(r => r.BrokerId == leader);
        produces.Should().OnlyContain(r => r.Timestamp >= before && r.Timestamp <= after);
        produces[1].Timestamp.Should().BeGreaterThanOrEqualTo(produces[0].Timestamp);
        whileTracking.Where(r => r.Api == KafkaApi.Produce).Should().HaveCount(2);
        _cluster.GetRequests().Should().BeEmpty("nothing is recorded after tracking stopped");
    }

    [Fact]
    public async Task ClearRequests_WhileTracking_ForgetsWhatWasRecorded()
    {
        _cluster.CreateTopic("cleared-requests", 1);
        using var producer = KafkaClients.Producer(_cluster.BootstrapServers);
        _cluster.StartRequestTracking();
        await producer.ProduceAsync("cleared-requests", new Message<string, string> { Key = "k", Value = "v1" });

        _cluster.ClearRequests();
        await producer.ProduceAsync("cleared-requests", new Message<string, string> { Key = "k", Value = "v2" });

        _cluster.GetRequests().Count(r => r.Api == KafkaApi.Produce).Should().Be(1);
    }

    [Fact]
    public async Task SetGroupInitialRebalanceDelay_TwoSeconds_DelaysTheFirstAssignment()
    {
        _cluster.CreateTopic("delayed-group", 1);
        using (var producer = KafkaClients.Producer(_cluster.BootstrapServers))
        {
            await producer.ProduceAsync("delayed-group", new Message<string, string> { Key = "k", Value = "v" });
        }

        _cluster.SetGroupInitialRebalanceDelay(TimeSpan.FromSeconds(2));
        using var consumer = KafkaClients.Consumer(_cluster.BootstrapServers, "delayed-group-1");
        var watch = Stopwatch.StartNew();
        consumer.Subscribe("delayed-group");
        await Eventually.UntilAsync(() => consumer.Consume(TimeSpan.FromMilliseconds(100)), "the record arrives");
        watch.Stop();
        consumer.Close();

        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(1900));
    }

    [Fact]
    public async Task DeleteRecords_BeforeOffsetFive_MovesTheLogStartAndConsumersStartThere()
    {
        _cluster.CreateTopic("retention", 1);
        using (var producer = KafkaClients.Producer(_cluster.BootstrapServers))
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync("retention", new Message<string, string> { Key = "k", Value = $"v{i}" });
            }
        }

        _cluster.DeleteRecords("retention", 0, beforeOffset: 5);
        using var consumer = KafkaClients.Consumer(_cluster.BootstrapServers, TestKafka.Unique("retention"));
        var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition("retention", 0), Timeout);
        var read = KafkaClients.ReadAll(_cluster.BootstrapServers, "retention", 5);

        watermarks.Low.Value.Should().Be(5);
        watermarks.High.Value.Should().Be(10);
        read.Select(r => r.Offset.Value).Should().Equal(5, 6, 7, 8, 9);
    }

    [Fact]
    public void Dispose_Twice_IsSafeAndLaterCallsThrowObjectDisposed()
    {
        var cluster = new EmbeddedKafkaCluster(new EmbeddedKafkaClusterOptions { BrokerCount = 1 });

        cluster.Dispose();
        cluster.Dispose();
        var act = () => cluster.CreateTopic("late", 1);

        act.Should().Throw<ObjectDisposedException>();
    }

    /// <summary>Creates a one-partition topic, connects a producer and writes a first record (so metadata and connections are warm).</summary>
    private async Task<(int Leader, IProducer<string, string> Producer)> StartTopicAsync(string topic, string firstValue = "warm-up")
    {
        _cluster.CreateTopic(topic, 1);
        using var admin = Admin();
        var leader = admin.GetMetadata(topic, Timeout).Topics[0].Partitions[0].Leader;
        var producer = KafkaClients.Producer(_cluster.BootstrapServers);
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = firstValue });
        return (leader, producer);
    }

    private IAdminClient Admin() =>
        new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _cluster.BootstrapServers }).SetLogHandler(KafkaClients.Ignore).Build();
}
