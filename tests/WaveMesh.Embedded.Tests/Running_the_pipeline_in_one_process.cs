using WaveMesh.Contracts;
using WaveMesh.Pipeline;
using WaveMesh.Stages;
using Xunit.Abstractions;

namespace WaveMesh.Embedded.Tests;

[Trait("Category", "EndToEnd")]
public sealed class Running_the_pipeline_in_one_process(FirstRun first, ITestOutputHelper output) : IClassFixture<FirstRun>
{
    static readonly ModelSize Small = new(1, 16, 1);
    static readonly ModelSize Wide = new(2, 48, 3);

    [Fact]
    public void Completes_a_run_with_initial_and_final_evaluations_on_every_branch()
    {
        var run = first.Outcome;
        output.WriteLine($"first run: {run.Seconds:F0} s, {run.Results.Count()} results");

        Assert.Empty(run.HandlerFailures);
        Assert.Empty(run.State.Failures);
        var completed = Assert.Single(run.Events.OfType<RunCompleted>());
        Assert.Equal(RunOutcome.Succeeded, completed.Outcome);
        Assert.Equal(0, completed.Failed);
        Assert.NotNull(run.State.TeacherEvaluation);
        Assert.NotNull(run.State.Templates);

        var branches = run.State.Branches.Select(b => $"{b.Target.Slug}/{b.Method}").Order().ToList();
        Assert.Equal(["1x16x1/scratch", "1x16x1/wave", "1x16x1/weight_selection", "2x48x3/scratch", "2x48x3/wave"], branches);
        Assert.Equal([(Wide, Methods.WeightSelection)], run.State.NotApplicable);
        Assert.All(run.State.Branches, b =>
        {
            Assert.True(b.IsComplete, $"{b.Target} {b.Method} has no init or final evaluation");
            Assert.Equal(b.Finetuned!.InitModelDigest, b.Init!.ModelDigest);
            Assert.Equal(b.Finetuned.ModelDigest, b.Final!.ModelDigest);
            Assert.InRange(b.Init.Accuracy, 0, 1);
            Assert.InRange(b.Final.Accuracy, 0, 1);
        });
        Assert.All(run.State.Branches.Where(b => b.Method == Methods.Wave), b => Assert.Equal(b.Scalers!.ModelDigest, b.Finetuned!.InitModelDigest));
        // every job's result was published: 1 distillation, 2 scaler sets, 5 fine-tunes and the teacher's, 11 evaluations
        Assert.Equal(completed.Jobs + 1, run.Results.Count());
        Assert.All(run.Results, e => Assert.False(Outcome.Stats(e).Cached));
    }

    [Fact]
    public void Reports_one_target_entry_per_size_and_method_with_accuracies_between_0_and_1()
    {
        var report = first.Outcome.Report;

        var entries = report.Targets.Select(t => $"{t.Depth}x{t.Width}x{t.Heads}/{t.Method}").ToList();
        Assert.Equal(["1x16x1/wave", "1x16x1/scratch", "1x16x1/weight_selection", "2x48x3/wave", "2x48x3/scratch"], entries);
        Assert.All(report.Targets, t =>
        {
            Assert.InRange(t.AccuracyAtInit, 0, 1);
            Assert.InRange(t.AccuracyFinal, 0, 1);
            Assert.Equal(5, t.Steps);               // 0.01 epochs of 60,000 images in batches of 128
            Assert.Equal(t.Method == Methods.Wave ? 15 : 0, t.Stage2Steps);
            Assert.Single(t.Curve);                 // curve_points 2: one point inside stage 3
            Assert.False(t.Cached);
            Assert.True(t.Params > 0);
        });
        Assert.Equal(first.Outcome.State.Branch(Small, Methods.Wave).Final!.Accuracy,
            report.Targets.Single(t => t.Width == 16 && t.Method == Methods.Wave).AccuracyFinal);
        Assert.Equal((2, 32, 2), (report.Teacher.Depth, report.Teacher.Width, report.Teacher.Heads));
        Assert.InRange(report.Teacher.Accuracy, 0, 1);
        Assert.InRange(report.Templates.AuxAccuracy, 0, 1);
        Assert.Equal(16, report.Templates.TemplateSize);
    }

    [Fact]
    public async Task Answers_the_same_config_again_from_the_store_with_identical_accuracies()
    {
        using var folder = first.CopyOfStore();

        var again = await TinyRun.RunAsync(TinyRun.Config, folder.Path);

        Assert.Empty(again.HandlerFailures);
        Assert.Equal(RunOutcome.Succeeded, Assert.Single(again.Events.OfType<RunCompleted>()).Outcome);
        Assert.Equal(first.Outcome.Results.Count(), again.Results.Count());
        Assert.All(again.Results, e => Assert.True(Outcome.Stats(e).Cached, $"{e.GetType().Name} was computed again"));
        Assert.Equal(first.Outcome.Accuracies.OrderBy(kv => kv.Key), again.Accuracies.OrderBy(kv => kv.Key));
        Assert.Equal(first.Outcome.Report.Targets.Select(t => (t.Method, t.AccuracyAtInit, t.AccuracyFinal)),
            again.Report.Targets.Select(t => (t.Method, t.AccuracyAtInit, t.AccuracyFinal)));
        Assert.All(again.Report.Targets, t => Assert.True(t.Cached));
        Assert.Empty(again.Events.OfType<StageProgress>());
    }

    [Fact]
    public async Task Retries_a_job_whose_first_attempt_was_killed_and_finishes_the_run()
    {
        using var copy = first.CopyOfStore();
        var scalers = new KilledOnce(new ScalerStage());

        var run = await TinyRun.RunAsync(TinyRun.ConfigWith("2x32x2"), copy.Path, [new DistillStage(), scalers, new FinetuneStage(), new EvaluateStage()]);

        // Only the new size's scalers were not in the store: its first attempt died, the job host ran it again.
        Assert.Equal(2, scalers.Calls);
        Assert.Empty(run.HandlerFailures);
        Assert.Empty(run.State.Failures);
        Assert.DoesNotContain(run.Events, e => e is StageFailed);
        Assert.Equal(RunOutcome.Succeeded, Assert.Single(run.Events.OfType<RunCompleted>()).Outcome);
        var added = Assert.Single(run.State.Branches, b => b.Target == new ModelSize(2, 32, 2) && b.Method == Methods.Wave);
        Assert.True(added.IsComplete);
        Assert.False(Outcome.Stats(added.Scalers!).Cached);
    }

    /// <summary>A stage whose first job dies (as a killed worker's would); later jobs run normally.</summary>
    sealed class KilledOnce(IStageUnit inner) : IStageUnit
    {
        int calls;
        public int Calls => calls;
        public string Stage => inner.Stage;
        public Type JobType => inner.JobType;

        public Task<IntegrationEvent> RunAsync(StageJob job, StageContext context, IProgress<Engine.Training.StepReport> progress, CancellationToken cancellation) =>
            Interlocked.Increment(ref calls) == 1
                ? Task.FromException<IntegrationEvent>(new IOException("the worker was killed during its first attempt"))
                : inner.RunAsync(job, context, progress, cancellation);
    }

    [Fact]
    public async Task Runs_only_the_jobs_of_a_target_added_to_the_config()
    {
        using var folder = first.CopyOfStore();
        var added = new ModelSize(1, 32, 2);

        var bigger = await TinyRun.RunAsync(TinyRun.ConfigWith(added.Slug), folder.Path);

        Assert.Empty(bigger.HandlerFailures);
        Assert.Equal(RunOutcome.Succeeded, Assert.Single(bigger.Events.OfType<RunCompleted>()).Outcome);
        var computed = bigger.Results.Where(e => !Outcome.Stats(e).Cached).ToList();
        Assert.DoesNotContain(computed, e => e is TemplatesDistilled);
        Assert.All(computed, e => Assert.Equal(added, e switch
        {
            ScalersTrained s => s.Target,
            TargetFinetuned f => f.Target,
            TargetEvaluated v => ModelSize.TryParse(v.Subject.Split('/')[0], out var size) ? size : null,
            _ => null,
        }));
        // the new size's scalers, its three fine-tunes and their six evaluations
        Assert.Single(computed.OfType<ScalersTrained>());
        Assert.Equal([Methods.Scratch, Methods.Wave, Methods.WeightSelection], computed.OfType<TargetFinetuned>().Select(f => f.Method).Order());
        Assert.Equal(6, computed.OfType<TargetEvaluated>().Count());
        Assert.Equal(8, bigger.Report.Targets.Count);
        Assert.All(bigger.Report.Targets, t => Assert.Equal(t.Width != 32, t.Cached));
        foreach (var (subject, accuracy) in first.Outcome.Accuracies) Assert.Equal(accuracy, bigger.Accuracies[subject]);
    }
}
