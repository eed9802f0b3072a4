using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Transport.MassTransit;

/// <summary>Wiring of the RabbitMQ transport: MassTransit with a durable queue per stage and one for the orchestrator's events.</summary>
public static class MassTransitTransport
{
    /// <param name="stages">Stages whose jobs this service consumes (a worker), or none.</param>
    /// <param name="consumeEvents">Whether this service consumes every event (the orchestrator).</param>
    /// <param name="slots">Jobs the worker runs at once: each job queue's prefetch and concurrency.</param>
    public static IServiceCollection AddMassTransitTransport(this IServiceCollection services, IConfiguration configuration,
        IReadOnlyCollection<string> stages, bool consumeEvents, int slots = 1)
    {
        services.AddOptions<RabbitMqOptions>().Bind(configuration.GetSection(RabbitMqOptions.Section));
        var options = configuration.GetSection(RabbitMqOptions.Section).Get<RabbitMqOptions>() ?? new RabbitMqOptions();
        slots = Math.Max(1, slots);
        services.AddSingleton<MassTransitEventBus>();
        services.AddSingleton<IEventBus>(sp => sp.GetRequiredService<MassTransitEventBus>());
        services.AddSingleton<IDeadLetters>(sp => sp.GetRequiredService<MassTransitEventBus>());

        services.AddSingleton(new JobSlots(slots));

        // Start-up waits for the bus, so a service is ready only once its queues exist: a job published to a stage
        // whose queue was never declared would be dropped by the broker.
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromMinutes(2);
        });
        services.AddMassTransit(x =>
        {
            // Each consumer with its definition (endpoint, concurrency, retry); ConfigureEndpoints builds the endpoints.
            void Job<TJob>() where TJob : StageJob
            {
                if (stages.Contains(Topics.StageOf(typeof(TJob)))) x.AddConsumer<JobConsumer<TJob>, JobConsumerDefinition<TJob>>();
            }
            void Event<TEvent>() where TEvent : IntegrationEvent
            {
                if (consumeEvents) x.AddConsumer<EventConsumer<TEvent>, EventConsumerDefinition<TEvent>>();
            }
            Job<DistillTemplates>(); Job<TrainScalers>(); Job<FinetuneTarget>(); Job<EvaluateModel>();
            Event<TeacherChanged>(); Event<TemplatesDistilled>(); Event<ScalersTrained>(); Event<TargetFinetuned>();
            Event<TargetEvaluated>(); Event<StageFailed>(); Event<StageProgress>(); Event<RunCompleted>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.ConfigureBroker(options);
                cfg.ConnectReceiveObserver(new MalformedMessageReporter(new LazyBus(context), options.QueuePrefix));
                cfg.ConfigureEndpoints(context);
            });
        });
        return services;
    }

    /// <summary>
    /// The broker connection and message conventions every WaveMesh bus shares (also a test's or a tool's own bus): host
    /// and credentials, publisher confirms, snake_case JSON, and exchange names of message types prefixed with
    /// <see cref="RabbitMqOptions.QueuePrefix"/>. Without that prefix every deployment on one broker would bind its queues
    /// to the same message-type exchanges and receive the other deployments' jobs and events.
    /// </summary>
    public static void ConfigureBroker(this IRabbitMqBusFactoryConfigurator cfg, RabbitMqOptions options)
    {
        cfg.Host(options.Host, options.Port, options.VirtualHost, h =>
        {
            h.Username(options.Username);
            h.Password(options.Password);
            h.PublisherConfirmation = true;
            h.Heartbeat(TimeSpan.FromSeconds(10));
        });
        cfg.MessageTopology.SetEntityNameFormatter(new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, options.ExchangePrefix));
        // The contracts' one set of JSON rules (ContractJson): a message missing a required field, or null where the
        // contract forbids it, is refused here as on every other transport.
        cfg.ConfigureJsonSerializerOptions(ContractJson.ApplyRules);
    }

    /// <summary>Resolves the bus on first use: the receive observer is created while the bus itself is being built.</summary>
    sealed class LazyBus(IBusRegistrationContext context) : IEventBus
    {
        public Task PublishAsync(object message, CancellationToken cancellation = default) =>
            context.GetRequiredService<IEventBus>().PublishAsync(message, cancellation);
    }
}
