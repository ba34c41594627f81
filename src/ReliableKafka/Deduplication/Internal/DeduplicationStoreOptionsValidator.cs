using Microsoft.Extensions.Options;
using ReliableKafka.Configuration.Internal;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>Validates a deduplication store's options at startup (their DataAnnotations), naming the store in each message.</summary>
internal sealed class DeduplicationStoreOptionsValidator<TOptions>(string storeName) : IValidateOptions<TOptions>
    where TOptions : DeduplicationStoreOptions
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        ReliableKafkaOptionsValidator.ValidateAnnotations(options, $"{KafkaClientConfigBuilder.RootPath}:Deduplication ({storeName} store)", errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
