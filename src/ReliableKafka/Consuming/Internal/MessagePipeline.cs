using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using ReliableKafka.Deduplication;
using ReliableKafka.Deduplication.Internal;
using ReliableKafka.Serialization.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>Deserializes a record, then runs the handler for each attempt, resolved from a new DI scope each time.</summary>
internal sealed class MessagePipeline<TKey, TValue, THandler>(
    string consumerName,
    string groupId,
    MessageDeserializer<TKey> keyDeserializer,
    MessageDeserializer<TValue> valueDeserializer,
    IServiceScopeFactory scopes,
    Func<MessageContext<TKey, TValue>, string?>? messageIdSelector = null) : IRecordHandler
    where THandler : class, IMessageHandler<TKey, TValue>
{
    public bool DeserializesAsynchronously { get; } = keyDeserializer.IsAsync || valueDeserializer.IsAsync;

    public async ValueTask<object> PrepareAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        var message = record.Message;
        var headers = message.Headers ?? [];
        var key = await DeserializeAsync(keyDeserializer, message.Key, MessageComponentType.Key, record, headers).ConfigureAwait(false);
        var value = await DeserializeAsync(valueDeserializer, message.Value, MessageComponentType.Value, record, headers).ConfigureAwait(false);
        return new MessageContext<TKey, TValue>(key, value, record, headers, consumerName, groupId, cancellationToken);
    }

    public string? SelectMessageId(object prepared) =>
        messageIdSelector?.Invoke((MessageContext<TKey, TValue>)prepared) is { Length: > 0 } id ? id : null;

    public async Task HandleAsync(object prepared, int attempt, Func<IServiceProvider, ValueTask<IDeduplicationTransaction>>? transaction, CancellationToken cancellationToken)
    {
        var context = (MessageContext<TKey, TValue>)prepared;
        context.Attempt = attempt;
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            if (transaction is null)
            {
                await scope.ServiceProvider.GetRequiredService<THandler>().HandleAsync(context, cancellationToken).ConfigureAwait(false);
                return;
            }

            IDeduplicationTransaction unit;
            try
            {
                unit = await transaction(scope.ServiceProvider).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new DeduplicationRetryException($"Beginning the deduplication store's transaction failed: {e.Message}", e);
            }

            await using (unit.ConfigureAwait(false))
            {
                await scope.ServiceProvider.GetRequiredService<THandler>().HandleAsync(context, cancellationToken).ConfigureAwait(false);
                bool committed;
                try
                {
                    // The handler's writes are done: commit them even if the work was abandoned meanwhile, so that
                    // the record's next owner finds it processed instead of doing it again.
                    committed = await unit.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (HandlerTransactionException)
                {
                    // The handler's own data makes the commit fail (the same way every time): an attempt failure, so that
                    // retries and then the failure policy apply, not a store outage that would wait forever.
                    throw;
                }
                catch (Exception e)
                {
                    throw new DeduplicationRetryException($"Committing the handler's transaction with its completion failed: {e.Message}", e);
                }

                if (!committed)
                {
                    throw new DeduplicationRetryException("The claim expired and was taken over before the handler's transaction committed; it was rolled back.");
                }
            }
        }
    }

    private static async ValueTask<T> DeserializeAsync<T>(
        MessageDeserializer<T> deserializer, byte[]? data, MessageComponentType component, ConsumeResult<byte[]?, byte[]?> record, Headers headers)
    {
        var context = new SerializationContext(component, record.Topic, headers);
        try
        {
            return deserializer.Async is { } async
                ? await async.DeserializeAsync(data, data is null, context).ConfigureAwait(false)
                : deserializer.Sync!.Deserialize(data, data is null, context);
        }
        catch (Exception e)
        {
            throw new MessageDeserializationException(component, record.TopicPartitionOffset, e);
        }
    }
}
