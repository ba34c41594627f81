using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.DependencyInjection.Internal;

internal sealed class ReliableKafkaBuilder(IServiceCollection services) : IReliableKafkaBuilder
{
    public IServiceCollection Services { get; } = services;
}
