using System.Collections.Concurrent;
using MassTransit;
using WaveMesh.Contracts;
using WaveMesh.Transport.MassTransit;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>
/// The test's own MassTransit bus on the deployment's prefix, with the product's broker conventions
/// (<see cref="MassTransitTransport.ConfigureBroker"/>): a temporary queue of its own receives a copy of every event
/// (the control service keeps its queue), and jobs can be published to the stages like the control service does.
/// </summary>
public sealed class EventObserver : IAsyncDisposable
{
    readonly IBusControl bus;
    readonly ConcurrentQueue<IntegrationEvent> events = new();

    EventObserver(IBusControl bus) => this.bus = bus;

    public static async Task<EventObserver> StartAsync(RabbitMqOptions options)
    {
        EventObserver? observer = null;
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.ConfigureBroker(options);
            cfg.ReceiveEndpoint($"{options.QueuePrefix}-observer", e =>
            {
                // Durable, so it survives a broker restart like the services' queues; the deployment deletes it.
                e.PrefetchCount = 64;
                e.Handler<TeacherChanged>(c => observer!.Add(c.Message));
                e.Handler<TemplatesDistilled>(c => observer!.Add(c.Message));
                e.Handler<ScalersTrained>(c => observer!.Add(c.Message));
                e.Handler<TargetFinetuned>(c => observer!.Add(c.Message));
                e.Handler<TargetEvaluated>(c => observer!.Add(c.Message));
                e.Handler<StageFailed>(c => observer!.Add(c.Message));
                e.Handler<StageProgress>(c => observer!.Add(c.Message));
                e.Handler<RunCompleted>(c => observer!.Add(c.Message));
                e.Handler<ModelPromoted>(c => observer!.Add(c.Message));
                e.Handler<PromotionRejected>(c => observer!.Add(c.Message));
            });
        });
        observer = new EventObserver(bus);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await bus.StartAsync(timeout.Token);
        return observer;
    }

    Task Add(IntegrationEvent e)
    {
        events.Enqueue(e);
        return Task.CompletedTask;
    }

    public IReadOnlyList<IntegrationEvent> Events => [.. events];

    public IReadOnlyList<T> All<T>() where T : IntegrationEvent => events.OfType<T>().ToList();

    /// <summary>Publishes a job (or any message) the way the services do.</summary>
    public Task PublishAsync(object message) => bus.Publish(message, message.GetType());

    public async Task<T> WaitForAsync<T>(Func<T, bool> match, TimeSpan timeout, string what) where T : IntegrationEvent
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = events.OfType<T>().FirstOrDefault(match);
            if (found is not null) return found;
            if (DateTime.UtcNow > until) throw new TimeoutException($"no {typeof(T).Name} ({what}) within {timeout.TotalSeconds:F0} s; seen: {Describe()}");
            await Task.Delay(50);
        }
    }

    public async Task WaitUntilAsync(Func<IReadOnlyList<IntegrationEvent>, bool> condition, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition(Events))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:F0} s; seen: {Describe()}");
            await Task.Delay(50);
        }
    }

    /// <summary>Counts of the events seen by type, for failure messages.</summary>
    public string Describe() =>
        string.Join(", ", events.GroupBy(e => e.GetType().Name).Select(g => $"{g.Count()} {g.Key}"));

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await bus.StopAsync(timeout.Token); } catch (OperationCanceledException) { }
    }
}
