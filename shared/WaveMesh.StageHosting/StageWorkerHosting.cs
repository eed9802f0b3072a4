using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Engine.Training;
using WaveMesh.Hosting;
using WaveMesh.Messaging;
using WaveMesh.Stages;
using WaveMesh.Workers;

namespace WaveMesh.StageHosting;

/// <summary>Turns a service into a worker of its stages: options, the stage units, the runner and the job host on the selected transport.</summary>
public static class StageWorkerHosting
{
    /// <summary>A worker of one stage (each stage service).</summary>
    public static WebApplicationBuilder AddStageWorker(this WebApplicationBuilder builder, IStageUnit stage) => builder.AddStageWorker([stage]);

    /// <summary>A worker of several stages sharing its slots and device (the one-process mesh runs all four).</summary>
    public static WebApplicationBuilder AddStageWorker(this WebApplicationBuilder builder, IReadOnlyList<IStageUnit> stages)
    {
        builder.Services.AddOptions<WorkerOptions>().Bind(builder.Configuration.GetSection(WorkerOptions.Section))
            .Validate(o => !o.Problems().Any(), $"invalid {WorkerOptions.Section} settings").ValidateOnStart();
        builder.AddWaveMeshTransport([.. stages.Select(s => s.Stage)], consumeEvents: false);
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<WorkerOptions>>().Value;
            var device = EngineRuntime.Configure(new EngineOptions(o.Device, o.Threads));
            return new StageContext
            {
                Store = sp.GetRequiredService<IArtifactStore>(),
                Datasets = new Datasets(o.DataPaths, Path.Combine(o.WorkDirectory, "datasets")),
                Device = device,
                Worker = o.Name ?? $"{Environment.MachineName}/{Environment.ProcessId}",
                WorkDirectory = Path.Combine(o.WorkDirectory, Guid.NewGuid().ToString("N")[..8]),
            };
        });
        builder.Services.AddSingleton(sp => new StageRunner(sp.GetRequiredService<StageContext>(), stages) { Log = sp.GetRequiredService<ILogger<StageRunner>>() });
        builder.Services.AddSingleton(sp => new JobHost(sp.GetRequiredService<StageRunner>(), sp.GetRequiredService<IEventBus>(),
            sp.GetRequiredService<IJobLeases>(), sp.GetRequiredService<IDeadLetters>(), sp.GetRequiredService<IOptions<WorkerOptions>>(),
            sp.GetRequiredService<ILogger<JobHost>>()));
        builder.Services.AddSingleton<IJobOffer>(sp => sp.GetRequiredService<JobHost>());
        return builder;
    }

    /// <summary>Where the stage's jobs arrive on the selected transport.</summary>
    public static WebApplication MapStageWorker(this WebApplication app)
    {
        app.UseWaveMeshTransport();
        app.MapJobHost();
        return app;
    }
}
