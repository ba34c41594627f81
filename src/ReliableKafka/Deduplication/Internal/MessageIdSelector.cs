namespace ReliableKafka.Deduplication.Internal;

/// <summary>A consumer's message id selector, registered keyed by the consumer's name.</summary>
internal sealed class MessageIdSelector<TKey, TValue>(Func<MessageContext<TKey, TValue>, string?> select)
{
    public Func<MessageContext<TKey, TValue>, string?> Select { get; } = select;
}
