using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using ReliableKafka.DependencyInjection.Internal;
using static ReliableKafka.Configuration.Internal.KafkaClientConfigBuilder;

namespace ReliableKafka.Configuration.Internal;

/// <summary>
/// Validates <see cref="ReliableKafkaOptions"/> at startup: the DataAnnotations on each options object, then
/// the cross-field and preset rules of every registered producer and consumer. Each message starts with the
/// options path, e.g. <c>ReliableKafka:Consumers:orders: ...</c>.
/// </summary>
internal sealed class ReliableKafkaOptionsValidator(ReliableKafkaRegistry registry) : IValidateOptions<ReliableKafkaOptions>
{
    public ValidateOptionsResult Validate(string? name, ReliableKafkaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(options.BootstrapServers))
        {
            errors.Add($"{RootPath}: BootstrapServers must be set (comma-separated host:port, e.g. localhost:9092).");
        }

        CheckGuarantee(options.DeliveryGuarantee, $"{RootPath}:DeliveryGuarantee", errors);
        ValidateAnnotations(options.Security, $"{RootPath}:Security", errors);
        CheckRawConfig(options.Config, RootPath, ConfigScope.Global, errors);

        ValidateClients(options.Producers, "producer", "AddProducer", registry.IsProducer, ProducerPath, ConfigScope.Producer, p => p.Config, BuildProducer, options, errors);
        ValidateClients(options.Consumers, "consumer", "AddConsumer", registry.IsConsumer, ConsumerPath, ConfigScope.Consumer, c => c.Config, BuildConsumer, options, errors);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Distinct(StringComparer.Ordinal));
    }

    private static void ValidateClients<TOptions>(
        Dictionary<string, TOptions> clients,
        string kind,
        string addMethod,
        Func<string, bool> isRegistered,
        Func<string, string> pathOf,
        ConfigScope scope,
        Func<TOptions, Dictionary<string, string>> rawConfigOf,
        Func<ReliableKafkaOptions, string, TOptions, KafkaClientConfig> build,
        ReliableKafkaOptions options,
        List<string> errors)
        where TOptions : class
    {
        foreach (var (name, client) in clients)
        {
            var path = pathOf(name);
            if (!isRegistered(name))
            {
                errors.Add($"{path} is configured, but no {kind} of that name was added with {addMethod}.");
                continue;
            }

            ValidateAnnotations(client, path, errors);
            CheckRawConfig(rawConfigOf(client), path, scope, errors);
            errors.AddRange(build(options, name, client).Errors);
        }
    }

    private static void ValidateAnnotations(object options, string path, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            errors.AddRange(results.Select(r => $"{path}: {r.ErrorMessage}"));
        }
    }
}
