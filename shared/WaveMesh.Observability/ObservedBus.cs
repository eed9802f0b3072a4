using WaveMesh.Messaging;

namespace WaveMesh.Observability;

/// <summary>A bus that shows the ledger every message it publishes (jobs become "queued" the moment they are asked for).</summary>
public sealed class ObservedBus(IEventBus inner, RunLedger ledger) : IEventBus
{
    public Task PublishAsync(object message, CancellationToken cancellation = default)
    {
        ledger.Apply(message);
        return inner.PublishAsync(message, cancellation);
    }
}
