using Confluent.Kafka;

namespace ReliableKafka.Testing;

/// <summary>
/// One error for a broker to return to the next request of a given type, after an optional delay.
/// <see cref="ErrorCode.NoError"/> with a delay models a slow but successful response (for example a write
/// whose acknowledgement is late).
/// </summary>
/// <param name="Error">The error code to return; <see cref="ErrorCode.NoError"/> for a normal response.</param>
/// <param name="Delay">How long the broker waits before responding.</param>
public readonly record struct InjectedError(ErrorCode Error, TimeSpan Delay)
{
    /// <summary>Creates an error returned without delay.</summary>
    /// <param name="error">The error code.</param>
    public static implicit operator InjectedError(ErrorCode error) => new(error, TimeSpan.Zero);

    /// <summary>Creates an error returned without delay.</summary>
    /// <param name="error">The error code.</param>
    /// <returns>The injected error.</returns>
    public static InjectedError FromErrorCode(ErrorCode error) => new(error, TimeSpan.Zero);
}
