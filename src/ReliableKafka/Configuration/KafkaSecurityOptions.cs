using Confluent.Kafka;

namespace ReliableKafka;

/// <summary>
/// Connection security shared by every producer and consumer. Each property maps to one librdkafka setting;
/// <see langword="null"/> leaves librdkafka's default. Settings not listed here go in
/// <see cref="ReliableKafkaOptions.Config"/>. Passwords are never written to logs or error messages.
/// </summary>
public sealed class KafkaSecurityOptions
{
    /// <summary>Gets or sets the protocol used to talk to brokers (security.protocol).</summary>
    /// <value>The default is <see langword="null"/>: librdkafka's default, plaintext.</value>
    public SecurityProtocol? Protocol { get; set; }

    /// <summary>Gets or sets the SASL mechanism (sasl.mechanism).</summary>
    /// <value>The default is <see langword="null"/>: librdkafka's default, GSSAPI.</value>
    public SaslMechanism? SaslMechanism { get; set; }

    /// <summary>Gets or sets the SASL username for PLAIN and SCRAM (sasl.username).</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? SaslUsername { get; set; }

    /// <summary>Gets or sets the SASL password for PLAIN and SCRAM (sasl.password). Never logged.</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? SaslPassword { get; set; }

    /// <summary>Gets or sets the CA certificate file or directory used to verify brokers (ssl.ca.location).</summary>
    /// <value>The default is <see langword="null"/>: the system's CA store.</value>
    public string? SslCaLocation { get; set; }

    /// <summary>Gets or sets the client certificate file for mutual TLS (ssl.certificate.location).</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? SslCertificateLocation { get; set; }

    /// <summary>Gets or sets the client private key file for mutual TLS (ssl.key.location).</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? SslKeyLocation { get; set; }

    /// <summary>Gets or sets the password of the client private key (ssl.key.password). Never logged.</summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? SslKeyPassword { get; set; }
}
