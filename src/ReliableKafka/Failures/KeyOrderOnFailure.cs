namespace ReliableKafka;

/// <summary>What happens to the later records of a key whose record went to a retry topic (<see cref="FailurePolicy.RetryTopic"/>).</summary>
public enum KeyOrderOnFailure
{
    /// <summary>
    /// The default. The key parks on its partition: its later records are not handled there but follow the failed record
    /// into the retry topic it went to, in their order, and are handled behind it; once the record it waits for is handled
    /// or dead-lettered, the key's records are handled in place again. Other keys are not slowed. Under
    /// <see cref="OrderingMode.Partition"/> the whole partition parks; under <see cref="OrderingMode.None"/> nothing parks.
    /// </summary>
    Park = 0,

    /// <summary>The later records of the key go on while the failed record waits in a retry topic: they may be handled before it.</summary>
    GoOn = 1,
}
