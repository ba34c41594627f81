namespace ReliableKafka.IntegrationTests.Faults;

/// <summary>A record of the fault suite: its id, its key and its place among the key's records (1, 2, ...).</summary>
internal sealed record FaultMessage(string Id, string Key, int Seq);
