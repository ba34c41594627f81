using Confluent.Kafka;

namespace ReliableKafka.Consuming.Internal;

/// <summary>
/// Records handled one at a time, in offset order: those of one key (Key mode), of one partition (Partition
/// mode, and keyless records in Key mode), or a single record (None mode). A lane runs on the thread pool only
/// while it has records; its state is guarded by its partition's lock.
/// </summary>
internal sealed class Lane(PartitionState partition, byte[]? key, Action<Lane> run) : IThreadPoolWorkItem
{
    private long _handlerStartedAt;

    public PartitionState Partition { get; } = partition;

    public byte[]? Key { get; } = key;

    public Queue<ConsumeResult<byte[]?, byte[]?>> Records { get; } = new();

    public bool Running { get; set; }

    /// <summary>Gets or sets how many attempts the lane's current record has had (only the lane's own worker touches it).</summary>
    public int Attempts { get; set; }

    /// <summary>Gets or sets when the handler of the lane's current record started (a timestamp), 0 while none runs; read by metrics.</summary>
    public long HandlerStartedAt
    {
        get => Volatile.Read(ref _handlerStartedAt);
        set => Volatile.Write(ref _handlerStartedAt, value);
    }

    public void Execute() => run(this);
}
