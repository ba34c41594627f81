using Confluent.Kafka;
using ReliableKafka.Diagnostics.Internal;

namespace ReliableKafka.Consuming.Internal;

/// <summary>Reports the Confluent consumer's errors: logged, and a fatal one recorded so that the poll loop stops the consumer.</summary>
internal sealed class ClientErrors(EngineContext context, EngineLifecycle lifecycle)
{
    public void Report(Error error)
    {
        if (error.IsFatal)
        {
            lifecycle.FatalErrorOccurred(error);
            Log.ConsumerFatalError(context.Logger, context.Name, error.Code, error.Reason);
        }
        else
        {
            Log.ConsumerError(context.Logger, context.Name, error.Code, error.Reason);
        }
    }
}
