using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using MassTransit;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Messaging;
using WaveMesh.Pipeline;
using WaveMesh.Stages;

namespace WaveMesh.TransportBench;

/// <summary>
/// Where the benchmark takes its timestamps (Stopwatch ticks, one process, one clock): when a worker got a job's
/// delivery, when the job's stage unit started (what the JobHost calls once it has claimed the job) and when the job's
/// result reached the orchestrator.
/// </summary>
public sealed class Probe
{
    readonly ConcurrentDictionary<string, TaskCompletionSource<long>> starts = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, TaskCompletionSource<long>> results = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, long> lastDelivery = new(StringComparer.Ordinal);
    long slowConsumes;

    static TaskCompletionSource<long> Of(ConcurrentDictionary<string, TaskCompletionSource<long>> map, string key) =>
        map.GetOrAdd(key, _ => new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));

    public void Started(string jobKey) => Of(starts, jobKey).TrySetResult(Stopwatch.GetTimestamp());
    public void ResultArrived(string jobKey) => Of(results, jobKey).TrySetResult(Stopwatch.GetTimestamp());
    public void Delivered(string stage) => lastDelivery[stage] = Stopwatch.GetTimestamp();
    /// <summary>A MassTransit consume that took long: the JobConsumer waited for a free slot (it polls every 500 ms).</summary>
    public void SlowConsume() => Interlocked.Increment(ref slowConsumes);

    public Task<long> StartOf(string jobKey) => Of(starts, jobKey).Task;
    public Task<long> ResultOf(string jobKey) => Of(results, jobKey).Task;
    public long LastDelivery(string stage) => lastDelivery.GetValueOrDefault(stage);
    public long SlowConsumes => Interlocked.Read(ref slowConsumes);

    public void Forget(string jobKey)
    {
        starts.TryRemove(jobKey, out _);
        results.TryRemove(jobKey, out _);
    }
}

/// <summary>A stage unit that does no work: it stamps its start and answers at once with a made-up result.</summary>
public sealed class InstantUnit<TJob>(string stage, Probe probe, Func<TJob, string, IntegrationEvent> answer) : IStageUnit where TJob : StageJob
{
    public string Stage => stage;
    public Type JobType => typeof(TJob);

    public Task<IntegrationEvent> RunAsync(StageJob job, StageContext context, IProgress<StepReport> progress, CancellationToken cancellation)
    {
        probe.Started(job.Key);
        return Task.FromResult(answer((TJob)job, context.Worker));
    }
}

public static class FakeStages
{
    public static string Digest(string seed) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)));
    public static string RandomDigest() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    static StageStats Stats(int steps, string worker) => new(steps, 0, 0, false, worker);

    /// <summary>The four stages as instant units whose results carry digests derived from the job key (what the next stage asks for).</summary>
    public static IReadOnlyDictionary<string, IStageUnit> All(Probe probe) => new Dictionary<string, IStageUnit>
    {
        [StageNames.Distill] = new InstantUnit<DistillTemplates>(StageNames.Distill, probe, (d, w) =>
            new TemplatesDistilled(d.Key, d.TeacherDigest, Digest("templates " + d.Key), Digest("aux " + d.Key), 0.8, 1234, Stats(d.Training.Steps, w))),
        [StageNames.Scalers] = new InstantUnit<TrainScalers>(StageNames.Scalers, probe, (s, w) =>
            new ScalersTrained(s.Key, s.TemplatesDigest, s.Target, Digest("scalers " + s.Key), Digest("model " + s.Key), 321, Stats(s.Training.Steps, w))),
        [StageNames.Finetune] = new InstantUnit<FinetuneTarget>(StageNames.Finetune, probe, (f, w) =>
            new TargetFinetuned(f.Key, f.Target, f.Method, f.Init.Kind == InitSource.Model && f.Init.Digest is { } d ? d : Digest("init " + f.Key),
                Digest("final " + f.Key), 10_000, [new CurvePoint(f.Training.Steps, 0.5)], Stats(f.Training.Steps, w))),
        [StageNames.Evaluate] = new InstantUnit<EvaluateModel>(StageNames.Evaluate, probe, (v, w) =>
            new TargetEvaluated(v.Key, v.ModelDigest, v.Subject, 0.5, 1.0, 10_000, Stats(0, w))),
    };

    /// <summary>One evaluation job no worker has seen (a fresh model digest gives it a fresh job key).</summary>
    public static EvaluateModel FreshEvaluation(int i) =>
        new(RandomDigest(), new DatasetRef(Subset: 500), $"bench/{i}") { RunId = Guid.NewGuid(), CausationId = Guid.NewGuid() };

    /// <summary>The default pipeline's four target sizes with two methods (WAVE and scratch): 30 jobs, 4 stages deep.</summary>
    public static PipelineDefinition Pipeline()
    {
        var d = RunConfig.Default.Pipeline;
        return d with { Name = "transport-bench", Methods = d.Methods.Where(m => m.Method is Methods.Wave or Methods.Scratch).ToList() };
    }

    /// <summary>A teacher never seen before, so that no job of the run is answered from a recorded result.</summary>
    public static TeacherChanged FreshTeacher() =>
        new(RandomDigest(), "bench-teacher", new ModelFamily(), new ModelSize(6, 128, 4)) { RunId = Guid.NewGuid() };
}

/// <summary>The orchestrator's event handler: stamps every result's arrival, then lets the PipelineController act on it.</summary>
public sealed class BenchEventHandler(PipelineController controller, Probe probe) : IEventHandler
{
    public async Task HandleAsync(IntegrationEvent e, CancellationToken cancellation)
    {
        if (MessageTypes.JobKey(e) is { } key) probe.ResultArrived(key);
        await controller.HandleAsync(e, cancellation);
    }
}

/// <summary>MassTransit: stamps the moment a worker's bus hands a job to its JobConsumer, and counts consumes that waited for a slot.</summary>
public sealed class DeliveryObserver(Probe probe, string stage) : IConsumeObserver
{
    public Task PreConsume<T>(ConsumeContext<T> context) where T : class
    {
        probe.Delivered(stage);
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context) where T : class
    {
        if (context.ReceiveContext.ElapsedTime > TimeSpan.FromMilliseconds(400)) probe.SlowConsume();
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Task.CompletedTask;
}
