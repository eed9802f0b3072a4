using System.Diagnostics;
using WaveMesh.Contracts;
using WaveMesh.Distiller;
using WaveMesh.Evaluator;
using WaveMesh.Finetuner;
using WaveMesh.ScalerTrainer;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;

namespace WaveMesh.Services.Tests;

/// <summary>
/// The five services deployed once for the end-to-end tests: control, a distiller, two scaler-trainers, two finetuners
/// and an evaluator, each its own host behind the fake daprd; a teacher uploaded and the tiny pipeline run once.
/// </summary>
public sealed class Deployment : IAsyncLifetime
{
    /// <summary>Small state values, so every model is cut into several chunks.</summary>
    public const int ChunkBytes = 32_768;
    public const string TeacherName = "fmnist-tiny";
    public const string PipelineName = "tiny";
    public static readonly ModelSize Small = new(1, 16, 1);
    public static readonly ModelSize Wide = new(2, 48, 3);

    /// <summary>The run configuration (its teacher section is not used by the control service).</summary>
    public static string Config(params ModelSize[] targets) => $"""
        templates: {"{"} size: 16, matrix: 4, vector: 2, embedding: 4 {"}"}
        auxiliary: 2x32x2
        distill: {"{"} epochs: 0.03 {"}"}
        scalers: {"{"} steps: 15, subset: 1000 {"}"}
        finetune: {"{"} epochs: 0.01, curve_points: 2 {"}"}
        methods: [wave, scratch]
        targets: [{string.Join(", ", targets.Select(t => t.Slug))}]
        """;

    public Mesh Mesh { get; private set; } = null!;
    public byte[] Teacher { get; } = Checkpoints.TrainedTeacher;
    public Mesh.Registered Registered { get; private set; } = null!;
    public Guid FirstRunId { get; private set; }
    public RunView FirstRun { get; private set; } = null!;
    public TimeSpan FirstRunTime { get; private set; }
    public Dictionary<string, IServiceHost> Replicas { get; } = [];
    /// <summary>Every span the services in this process ended, from before the first run.</summary>
    public SpanRecorder Spans { get; } = new();

    public async Task InitializeAsync()
    {
        Mesh = await Mesh.StartAsync(ChunkBytes);
        await Mesh.StartControlAsync();
        Replicas["distiller-1"] = await Mesh.StartWorkerAsync<DistillerService>("distiller", "distiller-1");
        Replicas["scalers-1"] = await Mesh.StartWorkerAsync<ScalerTrainerService>("scaler-trainer", "scalers-1");
        Replicas["scalers-2"] = await Mesh.StartWorkerAsync<ScalerTrainerService>("scaler-trainer", "scalers-2");
        Replicas["finetuner-1"] = await Mesh.StartWorkerAsync<FinetunerService>("finetuner", "finetuner-1");
        Replicas["finetuner-2"] = await Mesh.StartWorkerAsync<FinetunerService>("finetuner", "finetuner-2");
        Replicas["evaluator-1"] = await Mesh.StartWorkerAsync<EvaluatorService>("evaluator", "evaluator-1");

        var clock = Stopwatch.StartNew();
        Registered = await Mesh.UploadTeacherAsync(TeacherName, Teacher);
        FirstRunId = await Mesh.PutPipelineAsync(PipelineName, TeacherName, Config(Small, Wide))
            ?? throw new InvalidOperationException("defining the pipeline of an uploaded teacher started no run");
        FirstRun = await Mesh.WaitForRunAsync(FirstRunId, TimeSpan.FromMinutes(4));
        FirstRunTime = clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        await Mesh.DisposeAsync();
        Spans.Dispose();
    }

    /// <summary>The distillation the first run used (its templates serve later jobs).</summary>
    public TemplatesDistilled Templates =>
        Mesh.Published<TemplatesDistilled>().First(t => t.RunId == FirstRunId);
}
