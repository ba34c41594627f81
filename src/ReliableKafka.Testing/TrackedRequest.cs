namespace ReliableKafka.Testing;

/// <summary>A request received by a broker of the <see cref="EmbeddedKafkaCluster"/> while tracking was on.</summary>
/// <param name="BrokerId">The id of the broker that received the request.</param>
/// <param name="Api">The request type.</param>
/// <param name="Timestamp">
/// When the broker received it, in <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> units: librdkafka
/// stamps requests with the same monotonic clock the .NET runtime uses for <see cref="System.Diagnostics.Stopwatch"/>,
/// so the value can be compared with timestamps the test takes itself.
/// </param>
public readonly record struct TrackedRequest(int BrokerId, KafkaApi Api, long Timestamp);
