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
