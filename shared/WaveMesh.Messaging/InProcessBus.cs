using System.Threading.Channels;

namespace WaveMesh.Messaging;

/// <summary>
/// The embedded mode's bus: each subscription has its own queue and consumers, so a long job never holds up the
/// events that report on it. Delivery is at-most-once (nothing is persisted); a failing handler is reported through
/// <see cref="HandlerFailed"/> and the subscription carries on.
/// </summary>
public sealed class InProcessBus : IEventBus, ISubscriber, IAsyncDisposable
{
    readonly List<Subscription> subscriptions = [];
    readonly CancellationTokenSource stopping = new();

    /// <summary>Raised when a handler throws; the message is not redelivered.</summary>
    public event Action<object, Exception>? HandlerFailed;

    public Task PublishAsync(object message, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        Subscription[] targets;
        lock (subscriptions) targets = subscriptions.Where(s => s.Accepts(message)).ToArray();
        foreach (var s in targets) s.Queue.Writer.TryWrite(message);
        return Task.CompletedTask;
    }

    public IDisposable Subscribe<T>(Func<T, CancellationToken, Task> handler, int concurrency = 1) where T : class
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var s = new Subscription(typeof(T), Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = concurrency == 1 }));
        lock (subscriptions) subscriptions.Add(s);
        for (int i = 0; i < concurrency; i++)
            s.Consumers.Add(Task.Run(() => Consume(s, (m, ct) => handler((T)m, ct))));
        return new Unsubscriber(this, s);
    }

    async Task Consume(Subscription s, Func<object, CancellationToken, Task> handler)
    {
        try
        {
            await foreach (var message in s.Queue.Reader.ReadAllAsync(stopping.Token))
            {
                try { await handler(message, stopping.Token); }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested) { return; }
                catch (Exception e) { HandlerFailed?.Invoke(message, e); }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    int disposed;

    /// <summary>Stops every consumer; safe to call more than once (a container disposes it once per service type it is registered as).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        Subscription[] all;
        lock (subscriptions) { all = [.. subscriptions]; subscriptions.Clear(); }
        foreach (var s in all) s.Queue.Writer.TryComplete();
        await stopping.CancelAsync();
        await Task.WhenAll(all.SelectMany(s => s.Consumers));
        stopping.Dispose();
    }

    sealed record Subscription(Type MessageType, Channel<object> Queue)
    {
        public List<Task> Consumers { get; } = [];
        public bool Accepts(object message) => MessageType.IsInstanceOfType(message);
    }

    sealed class Unsubscriber(InProcessBus bus, Subscription s) : IDisposable
    {
        public void Dispose()
        {
            lock (bus.subscriptions) bus.subscriptions.Remove(s);
            s.Queue.Writer.TryComplete();
        }
    }
}
