using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.DependencyInjection.Internal;
using ReliableKafka.Failures.Internal;

namespace ReliableKafka.Tests.Configuration;

/// <summary>Named clusters: which connection each client gets, and the errors for clusters that are missing or incomplete.</summary>
public sealed class ClusterOptionsTests
{
    [Fact]
    public void BuildConsumer_NamedCluster_ConnectsWithThatClustersBrokersSecurityAndConfigAndNothingOfTheDefaultClusters()
    {
        var options = TwoClusters();
        options.Config["sasl.oauthbearer.config"] = "principal=main-service";
        options.Config["reconnect.backoff.ms"] = "200";
        options.Clusters["analytics"].Config["reconnect.backoff.ms"] = "50";
        var consumer = Consumer(cluster: "analytics");

        var config = KafkaClientConfigBuilder.BuildConsumer(options, "clicks", consumer);

        config.Errors.Should().BeEmpty();
        config.Cluster.Should().Be("analytics");
        config.Values.Should().Contain(new Dictionary<string, string>
        {
            ["bootstrap.servers"] = "analytics-1:9093",
            ["security.protocol"] = "sasl_ssl",
            ["sasl.mechanism"] = "PLAIN",
            ["sasl.username"] = "reader",
            ["reconnect.backoff.ms"] = "50",
        });
        config.Values.Should().NotContainKey("sasl.oauthbearer.config", "the default cluster's raw settings stay with its clients");
    }

    [Fact]
    public void BuildProducer_NoCluster_UsesTheDefaultClustersConnectionAndNothingOfTheNamedOnes()
    {
        var config = KafkaClientConfigBuilder.BuildProducer(TwoClusters(), "default", new ProducerOptions());

        config.Errors.Should().BeEmpty();
        config.Cluster.Should().BeNull();
        config.Values["bootstrap.servers"].Should().Be("main-1:9092");
        config.Values.Should().NotContainKeys("security.protocol", "sasl.username");
    }

    [Fact]
    public void Validate_ClientNamesAClusterThatIsNotConfigured_FailsNamingTheKnownOnes()
    {
        Validate(o =>
        {
            o.Clusters["analytics"] = new KafkaClusterOptions { BootstrapServers = "analytics-1:9093" };
            o.Producers["audit"] = new ProducerOptions { Cluster = "analytcs" };
        }).Should().Equal("ReliableKafka:Producers:audit: Cluster 'analytcs' is not configured under ReliableKafka:Clusters (configured: analytics).");
    }

    [Fact]
    public void Validate_ClusterWithoutBootstrapServers_FailsNamingTheCluster()
    {
        Validate(o => o.Clusters["analytics"] = new KafkaClusterOptions()).Should().Equal(
            "ReliableKafka:Clusters:analytics: BootstrapServers must be set (comma-separated host:port).");
    }

    [Fact]
    public void Validate_ClusterConfigSettingWhatATypedOptionOwns_NamesTheClustersOption()
    {
        Validate(o =>
        {
            o.Clusters["analytics"] = new KafkaClusterOptions { BootstrapServers = "analytics-1:9093" };
            o.Clusters["analytics"].Config["sasl.username"] = "reader";
        }).Should().Equal(
            "ReliableKafka:Clusters:analytics:Config key 'sasl.username' is set through the option ReliableKafka:Clusters:analytics:Security:SaslUsername; set that option instead.");
    }

    [Fact]
    public void Validate_EveryClientOnANamedCluster_NeedsNoDefaultBootstrapServers()
    {
        Validate(
            o =>
            {
                o.BootstrapServers = null;
                o.Clusters["analytics"] = new KafkaClusterOptions { BootstrapServers = "analytics-1:9093" };
                o.Producers["audit"] = new ProducerOptions { Cluster = "analytics" };
                o.Consumers["clicks"] = Consumer(cluster: "analytics");
            }).Should().BeEmpty();
    }

    [Fact]
    public void Validate_OneClientOnTheDefaultCluster_StillNeedsDefaultBootstrapServers()
    {
        Validate(
            o =>
            {
                o.BootstrapServers = null;
                o.Clusters["analytics"] = new KafkaClusterOptions { BootstrapServers = "analytics-1:9093" };
                o.Producers["audit"] = new ProducerOptions { Cluster = "analytics" };
                o.Consumers["clicks"] = Consumer(cluster: null);
            }).Should().Equal("ReliableKafka: BootstrapServers must be set (comma-separated host:port, e.g. localhost:9092).");
    }

    [Fact]
    public void DeadLetterProducer_OfAConsumerOnANamedCluster_WritesToThatCluster()
    {
        var config = DeadLetterWriter.BuildConfig(TwoClusters(), "clicks", Consumer(cluster: "analytics"));

        config.Errors.Should().BeEmpty();
        config.Cluster.Should().Be("analytics");
        config.Values["bootstrap.servers"].Should().Be("analytics-1:9093");
        config.Values["sasl.username"].Should().Be("reader");
    }

    [Fact]
    public void LookupSettings_SaslSslOauthConsumer_KeepEverySettingOfTheConsumerExceptItsGroup()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "main-1:9092" };
        options.Security.Protocol = Confluent.Kafka.SecurityProtocol.SaslSsl;
        options.Security.SaslMechanism = Confluent.Kafka.SaslMechanism.OAuthBearer;
        options.Security.SslCaLocation = "/etc/ca.pem";
        options.Config["enable.ssl.certificate.verification"] = "false";
        options.Config["enable.sasl.oauthbearer.unsecure.jwt"] = "true";
        options.Config["https.ca.location"] = "/etc/idp-ca.pem";
        var consumer = Consumer(cluster: null);
        consumer.Config["ssl.endpoint.identification.algorithm"] = "none";
        consumer.Config["group.instance.id"] = "clicks-1";
        var consumerConfig = KafkaClientConfigBuilder.BuildConsumer(options, "clicks", consumer);
        consumerConfig.Errors.Should().BeEmpty();

        var lookup = DeadLetterWriter.LookupSettings(consumerConfig).ToDictionary(kv => kv.Key, kv => kv.Value);

        var kept = consumerConfig.Values.Where(kv => kv.Key is not ("group.id" or "group.instance.id" or "client.id" or "fetch.min.bytes" or "fetch.wait.max.ms"));
        lookup.Should().Contain(kept, "the look-up connects and authenticates exactly as the consumer does");
        lookup.Should().Contain(new Dictionary<string, string>
        {
            ["security.protocol"] = "sasl_ssl",
            ["sasl.mechanism"] = "OAUTHBEARER",
            ["enable.ssl.certificate.verification"] = "false",
            ["enable.sasl.oauthbearer.unsecure.jwt"] = "true",
            ["https.ca.location"] = "/etc/idp-ca.pem",
            ["ssl.endpoint.identification.algorithm"] = "none",
            ["client.id"] = "reliablekafka-clicks-dlt-lookup",
            ["enable.auto.commit"] = "false",
            ["enable.partition.eof"] = "false",
            ["fetch.min.bytes"] = "1",
            ["fetch.wait.max.ms"] = "100",
        });
        lookup["group.id"].Should().StartWith("reliablekafka-dlt-check-").And.NotBe(consumer.GroupId);
        lookup.Should().NotContainKey("group.instance.id", "the look-up must not take the consumer's static membership");
    }

    private static ReliableKafkaOptions TwoClusters()
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "main-1:9092" };
        var analytics = new KafkaClusterOptions { BootstrapServers = "analytics-1:9093" };
        analytics.Security.Protocol = Confluent.Kafka.SecurityProtocol.SaslSsl;
        analytics.Security.SaslMechanism = Confluent.Kafka.SaslMechanism.Plain;
        analytics.Security.SaslUsername = "reader";
        analytics.Security.SaslPassword = "secret";
        options.Clusters["analytics"] = analytics;
        return options;
    }

    private static ConsumerOptions Consumer(string? cluster)
    {
        var consumer = new ConsumerOptions { GroupId = "clicks-service", Cluster = cluster };
        consumer.Topics.Add("clicks");
        return consumer;
    }

    private static List<string> Validate(Action<ReliableKafkaOptions> configure)
    {
        var options = new ReliableKafkaOptions { BootstrapServers = "localhost:9092" };
        configure(options);
        var registry = new ReliableKafkaRegistry();
        foreach (var name in options.Producers.Keys)
        {
            registry.AddProducer(name, typeof(string), typeof(string));
        }

        foreach (var name in options.Consumers.Keys)
        {
            registry.AddConsumer(name);
        }

        var result = new ReliableKafkaOptionsValidator(registry).Validate(Options.DefaultName, options);
        return result.Failures?.ToList() ?? [];
    }
}
