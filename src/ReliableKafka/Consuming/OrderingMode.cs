namespace ReliableKafka;

/// <summary>Which records of a consumer may be handled at the same time.</summary>
public enum OrderingMode
{
    /// <summary>
    /// The default. Records with the same key are handled one at a time, in offset order; records with different
    /// keys run concurrently (up to <see cref="ConsumerOptions.MaxConcurrency"/>). Records without a key are
    /// ordered per partition.
    /// </summary>
    Key = 0,

    /// <summary>Records of a partition are handled one at a time, in offset order; partitions run concurrently.</summary>
    Partition = 1,

    /// <summary>Records run concurrently regardless of key or partition (still committed in offset order, never past an unfinished record).</summary>
    None = 2,
}
