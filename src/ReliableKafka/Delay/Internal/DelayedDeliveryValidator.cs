using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;
using ReliableKafka.DependencyInjection.Internal;

namespace ReliableKafka.Delay.Internal;

/// <summary>Validates <see cref="DelayedDeliveryOptions"/> at startup (the forwarder's consumer entry is validated as a consumer).</summary>
internal sealed class DelayedDeliveryValidator(ReliableKafkaRegistry registry) : IValidateOptions<ReliableKafkaOptions>
{
    private const string Path = $"{KafkaClientConfigBuilder.RootPath}:DelayedDelivery";

    public ValidateOptionsResult Validate(string? name, ReliableKafkaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!registry.DelayedDelivery)
        {
            return ValidateOptionsResult.Skip;
        }

        var delay = options.DelayedDelivery;
        var errors = new List<string>();
        ReliableKafkaOptionsValidator.ValidateAnnotations(delay, Path, errors);
        if (!string.IsNullOrEmpty(delay.TopicPrefix) && !delay.TopicPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            errors.Add($"{Path}: TopicPrefix ('{delay.TopicPrefix}') may hold only a-z, A-Z, 0-9, '.', '_' and '-'.");
        }

        errors.AddRange(DelayTiers.Problems(delay.EffectiveTiers).Select(p => $"{Path}: {p}"));
        if (options.Producers.TryGetValue(DelayRuntime.ProducerName, out var producer) && producer.DeliveryGuarantee == DeliveryGuarantee.AtMostOnce)
        {
            errors.Add($"{KafkaClientConfigBuilder.RootPath}:Producers:{DelayRuntime.ProducerName}: DeliveryGuarantee AtMostOnce would lose scheduled messages; the delay producer writes with acks=all.");
        }

        if (delay.Forward)
        {
            var forwarder = delay.Forwarder;
            var tierTopics = delay.EffectiveTiers.Select(delay.TierTopic).ToList();
            if (!forwarder.Topics.SequenceEqual(tierTopics, StringComparer.Ordinal))
            {
                errors.Add($"{Path}:Forwarder: Topics are the tier topics, set by ReliableKafka; leave them empty.");
            }

            if (forwarder.Deduplication.Enabled == true)
            {
                errors.Add($"{Path}:Forwarder:Deduplication: Enabled must not be true: a scheduled message passes the forwarder once per hop under one id, so a deduplicating forwarder would drop it after its first hop (the target's idempotent consumer drops repeated deliveries).");
            }

            if (forwarder.DeliveryGuarantee == DeliveryGuarantee.AtMostOnce)
            {
                errors.Add($"{Path}:Forwarder: DeliveryGuarantee AtMostOnce would lose scheduled messages; use AtLeastOnce.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
