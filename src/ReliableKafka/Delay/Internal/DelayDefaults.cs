namespace ReliableKafka.Delay.Internal;

/// <summary>
/// Completes the options once everything is bound: the delay producer (<c>Producers:reliablekafka-delay</c>, on the delay
/// cluster) and, when this process forwards, the forwarder's consumer entry (<c>Consumers:reliablekafka-delay-forwarder</c>,
/// the very <see cref="DelayedDeliveryOptions.Forwarder"/> object) with its tier topics, group and dead-letter topic.
/// </summary>
internal static class DelayDefaults
{
    public static void Apply(ReliableKafkaOptions options)
    {
        var delay = options.DelayedDelivery;
        if (!options.Producers.TryGetValue(DelayRuntime.ProducerName, out var producer))
        {
            producer = new ProducerOptions();
            options.Producers[DelayRuntime.ProducerName] = producer;
        }

        producer.Cluster ??= delay.Cluster;

        // acks=all whatever the application's own guarantee: a scheduled record must not be lost.
        producer.DeliveryGuarantee ??= DeliveryGuarantee.AtLeastOnce;

        // The schedule id travels as the message id: the header stays on.
        producer.MessageIdHeader = true;
        if (!delay.Forward)
        {
            return;
        }

        var forwarder = delay.Forwarder;
        forwarder.GroupId ??= $"{delay.TopicPrefix}.delay-forwarder";
        if (forwarder.Topics.Count == 0)
        {
            forwarder.Topics.AddRange(delay.EffectiveTiers.Select(delay.TierTopic));
        }

        forwarder.Cluster ??= delay.Cluster;
        forwarder.DeliveryGuarantee ??= DeliveryGuarantee.AtLeastOnce;
        forwarder.Deduplication.Enabled ??= false;
        forwarder.DeadLetter.Topic ??= $"{delay.TopicPrefix}.delay.dlt";
        options.Consumers[DelayRuntime.ForwarderName] = forwarder;
    }
}
