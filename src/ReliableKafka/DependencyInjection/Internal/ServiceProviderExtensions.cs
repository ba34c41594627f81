using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ReliableKafka.DependencyInjection.Internal;

internal static class ServiceProviderExtensions
{
    /// <summary>The application's logger factory, or a null one when logging is not registered.</summary>
    public static ILoggerFactory GetLoggerFactory(this IServiceProvider services) =>
        services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
}
