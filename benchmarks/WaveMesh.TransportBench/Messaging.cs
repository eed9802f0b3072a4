using System.Diagnostics;
using WaveMesh.Contracts;

namespace WaveMesh.TransportBench;

/// <summary>One job's timeline, in ms from just before PublishAsync was called.</summary>
public sealed record JobTimes(double PublishReturned, double Delivered, double Started, double ResultAtOrchestrator);

public sealed record LatencyResult(string Transport, int Warmup, int Jobs, Summary PublishCall, Summary ToDelivery, Summary ToStart,
    Summary DeliveryToStart, Summary ToResult, List<JobTimes> Samples);

public sealed record PipelineRun(double WallMs, int Jobs, string Outcome, long SlotWaits);

public sealed record PipelineResult(string Transport, int Slots, int WarmupRuns, int Runs, int JobsPerRun, int Depth, double MedianWallMs, double MinWallMs,
    double MaxWallMs, double MedianPerJobMs, double MedianPerStageOnPathMs, long SlotWaits, List<PipelineRun> Samples);

public static class MessagingBench
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Publishes evaluation jobs one after another from the orchestrator's bus and times each to the moment the
    /// evaluator's JobHost starts its unit; the next job is published only once the previous one has fully ended
    /// (result at the orchestrator, worker idle), so every job meets an idle pipeline.
    /// </summary>
    public static async Task<LatencyResult> LatencyAsync(BenchMesh mesh, int warmup, int jobs)
    {
        var evaluator = mesh.Workers[StageNames.Evaluate];
        var samples = new List<JobTimes>();
        for (int i = 0; i < warmup + jobs; i++)
        {
            var job = FakeStages.FreshEvaluation(i);
            var key = job.Key;
            var start = mesh.Probe.StartOf(key);
            var result = mesh.Probe.ResultOf(key);
            long t0 = Stopwatch.GetTimestamp();
            await mesh.ControlBus.PublishAsync(job);
            long t1 = Stopwatch.GetTimestamp();
            long started = await start.WaitAsync(Patience);
            long arrived = await result.WaitAsync(Patience);
            long delivered = mesh.Probe.LastDelivery(StageNames.Evaluate);
            while (evaluator.JobHost.Running > 0) await Task.Delay(1);
            mesh.Probe.Forget(key);
            if (i >= warmup)
                samples.Add(new JobTimes(Round(Ticks.Ms(t0, t1)), delivered > t0 ? Round(Ticks.Ms(t0, delivered)) : double.NaN,
                    Round(Ticks.Ms(t0, started)), Round(Ticks.Ms(t0, arrived))));
            int done = i + 1;
            if (done == warmup) Log.Line($"{mesh.Name}: {warmup} warm-up jobs done");
            else if (done > warmup && (done - warmup) % 50 == 0)
            {
                var recent = samples.TakeLast(50).Select(s => s.Started).ToList();
                Log.Line($"{mesh.Name}: {done - warmup}/{jobs} jobs, last 50: p50 {Summary.Of(recent).P50:F2} ms to job start");
            }
        }
        var delivery = samples.Where(s => !double.IsNaN(s.Delivered)).ToList();
        return new LatencyResult(mesh.Name, warmup, jobs,
            Summary.Of(samples.Select(s => s.PublishReturned).ToList()),
            Summary.Of(delivery.Select(s => s.Delivered).ToList()),
            Summary.Of(samples.Select(s => s.Started).ToList()),
            Summary.Of(delivery.Select(s => s.Started - s.Delivered).ToList()),
            Summary.Of(samples.Select(s => s.ResultAtOrchestrator).ToList()),
            samples);
    }

    /// <summary>Whole runs of the pipeline (every stage an instant unit), driven by the PipelineController over the mesh's bus.</summary>
    public static async Task<PipelineResult> PipelineAsync(BenchMesh mesh, int warmupRuns, int runs)
    {
        var definition = FakeStages.Pipeline();
        var samples = new List<PipelineRun>();
        const int depth = 4;   // distil -> scalers -> finetune (WAVE) -> evaluate
        for (int i = 0; i < warmupRuns + runs; i++)
        {
            var teacher = FakeStages.FreshTeacher();
            var finished = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnFinished(WaveMesh.Pipeline.RunCoordinator r)
            {
                if (r.RunId == teacher.RunId) finished.TrySetResult(Stopwatch.GetTimestamp());
            }
            mesh.Controller.RunFinished += OnFinished;
            long waitsBefore = mesh.SlotWaits;
            long t0 = Stopwatch.GetTimestamp();
            var run = await mesh.Controller.StartAsync(definition, teacher);
            long t1;
            try { t1 = await finished.Task.WaitAsync(TimeSpan.FromMinutes(5)); }
            finally { mesh.Controller.RunFinished -= OnFinished; }
            RunCompletedSummary(run, out int jobs, out string outcome);
            // Let the last jobs' lease releases settle before the next run.
            foreach (var w in mesh.Workers.Values) while (w.JobHost.Running > 0) await Task.Delay(1);
            var sample = new PipelineRun(Round(Ticks.Ms(t0, t1)), jobs, outcome, mesh.SlotWaits - waitsBefore);
            if (i < warmupRuns)
            {
                Log.Line($"{mesh.Name}, {mesh.Slots} slot(s): warm-up run {sample.WallMs:F0} ms, {jobs} jobs, {outcome}");
                continue;
            }
            samples.Add(sample);
            Log.Line($"{mesh.Name}, {mesh.Slots} slot(s): run {samples.Count}/{runs}: {sample.WallMs:F0} ms for {jobs} jobs ({sample.WallMs / jobs:F1} ms/job), {outcome}, {sample.SlotWaits} busy answers");
        }
        var walls = samples.Select(s => s.WallMs).Order().ToList();
        double median = Median(walls);
        int jobsPerRun = samples.Count > 0 ? samples[0].Jobs : 0;
        return new PipelineResult(mesh.Name, mesh.Slots, warmupRuns, runs, jobsPerRun, depth, median, walls.FirstOrDefault(), walls.LastOrDefault(),
            Round(Median(samples.Select(s => s.WallMs / s.Jobs).ToList())), Round(median / depth), samples.Sum(s => s.SlotWaits), samples);
    }

    static void RunCompletedSummary(WaveMesh.Pipeline.RunCoordinator run, out int jobs, out string outcome)
    {
        lock (run)
        {
            var c = run.Completion();
            jobs = c.Jobs;
            outcome = c.Outcome;
        }
    }

    static double Median(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static double Round(double v) => Math.Round(v, 3);
}
