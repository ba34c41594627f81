namespace ReliableKafka.Testing;

/// <summary>The kind of coordinator to move with <see cref="EmbeddedKafkaCluster.SetCoordinator"/>.</summary>
public enum CoordinatorType
{
    /// <summary>The coordinator of a consumer group; the key is the group id.</summary>
    Group,

    /// <summary>The coordinator of a transactional producer; the key is the transactional id.</summary>
    Transaction,
}
