using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.Consuming.Internal;

/// <summary>Deserializes a record, then runs the handler for each attempt, resolved from a new DI scope each time.</summary>
internal sealed class MessagePipeline<TKey, TValue, THandler>(
    string consumerName,
    string groupId,
    IDeserializer<TKey> keyDeserializer,
    IDeserializer<TValue> valueDeserializer,
    IServiceScopeFactory scopes) : IRecordHandler
    where THandler : class, IMessageHandler<TKey, TValue>
{
    public object Prepare(ConsumeResult<byte[]?, byte[]?> record, CancellationToken cancellationToken)
    {
        var message = record.Message;
        var headers = message.Headers ?? [];
        var key = Deserialize(keyDeserializer, message.Key, MessageComponentType.Key, record, headers);
        var value = Deserialize(valueDeserializer, message.Value, MessageComponentType.Value, record, headers);
        return new MessageContext<TKey, TValue>(key, value, record, headers, consumerName, groupId, cancellationToken);
    }

    public async Task HandleAsync(object prepared, int attempt, CancellationToken cancellationToken)
    {
        var context = (MessageContext<TKey, TValue>)prepared;
        context.Attempt = attempt;
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var handler = scope.ServiceProvider.GetRequiredService<THandler>();
            await handler.HandleAsync(context, cancellationToken).ConfigureAwait(false);
        }
    }

    private static T Deserialize<T>(IDeserializer<T> deserializer, byte[]? data, MessageComponentType component, ConsumeResult<byte[]?, byte[]?> record, Headers headers)
    {
        try
        {
            return deserializer.Deserialize(data, data is null, new SerializationContext(component, record.Topic, headers));
        }
        catch (Exception e)
        {
            throw new MessageDeserializationException(component, record.TopicPartitionOffset, e);
        }
    }
}
