namespace ReliableKafka.DependencyInjection.Internal;

/// <summary>
/// The producers and consumers registered with the builder (one instance per service collection), so that
/// validation can tell a configured client from a typo, and a second consumer with the same name is refused.
/// </summary>
internal sealed class ReliableKafkaRegistry
{
    private readonly HashSet<string> _producers = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _consumers = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<(string Name, Type Key, Type Value)> _producerTypes = [];
    private readonly Dictionary<string, (Type Key, Type Value)> _selectors = new(StringComparer.OrdinalIgnoreCase);
    private string? _deduplicationStore;
    private int _delayedDelivery;

    /// <summary>Gets a value indicating whether <c>AddDelayedDelivery</c> was called.</summary>
    public bool DelayedDelivery => Volatile.Read(ref _delayedDelivery) != 0;

    /// <summary>Records that <c>AddDelayedDelivery</c> was called; false when it was before.</summary>
    public bool EnableDelayedDelivery() => Interlocked.Exchange(ref _delayedDelivery, 1) == 0;

    /// <summary>Gets the name of the deduplication store added (e.g. "InMemory"), or null.</summary>
    public string? DeduplicationStore
    {
        get
        {
            lock (_selectors)
            {
                return _deduplicationStore;
            }
        }
    }

    /// <summary>Records the deduplication store; returns false when a different one was added before.</summary>
    public bool SetDeduplicationStore(string name)
    {
        lock (_selectors)
        {
            _deduplicationStore ??= name;
            return _deduplicationStore == name;
        }
    }

    /// <summary>Records a consumer's message id selector; returns false when the consumer has one already.</summary>
    public bool AddMessageIdSelector(string consumer, Type key, Type value)
    {
        lock (_selectors)
        {
            return _selectors.TryAdd(consumer, (key, value));
        }
    }

    /// <summary>Gets the consumers with a message id selector, and the key and value types it was added for.</summary>
    public IReadOnlyList<(string Consumer, Type Key, Type Value)> MessageIdSelectors
    {
        get
        {
            lock (_selectors)
            {
                return [.. _selectors.Select(s => (s.Key, s.Value.Key, s.Value.Value))];
            }
        }
    }

    /// <summary>Records a producer; returns false when the same name was registered for the same types before.</summary>
    public bool AddProducer(string name, Type key, Type value)
    {
        lock (_producers)
        {
            _producers.Add(name);
            return _producerTypes.Add((name.ToUpperInvariant(), key, value));
        }
    }

    /// <summary>Records a consumer; returns false when the name is taken.</summary>
    public bool AddConsumer(string name)
    {
        lock (_consumers)
        {
            return _consumers.Add(name);
        }
    }

    public bool IsProducer(string name)
    {
        lock (_producers)
        {
            return _producers.Contains(name);
        }
    }

    public bool IsConsumer(string name)
    {
        lock (_consumers)
        {
            return _consumers.Contains(name);
        }
    }
}
