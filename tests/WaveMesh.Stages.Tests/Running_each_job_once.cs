using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Testing;
using WaveMesh.Workers;

namespace WaveMesh.Stages.Tests;

public sealed class Running_each_job_once : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task Runs_the_same_job_once_and_answers_it_again_from_its_record()
    {
        var unit = Fakes.Evaluator();
        var runner = new StageRunner(folder.Context(), [unit]);
        var first = Fakes.Evaluation();
        var second = first with { Id = Guid.NewGuid(), RunId = Guid.NewGuid(), CausationId = Guid.NewGuid() };

        var fresh = (TargetEvaluated)await runner.RunAsync(first);
        var again = (TargetEvaluated)await runner.RunAsync(second);

        Assert.Equal(1, unit.Runs);
        Assert.False(fresh.Stats.Cached);
        Assert.True(again.Stats.Cached);
        Assert.Equal(first.Key, again.JobKey);
        Assert.Equal(fresh.Accuracy, again.Accuracy);
        Assert.Equal(fresh.Examples, again.Examples);
        Assert.Equal(first.RunId, fresh.RunId);
        Assert.Equal(first.Id, fresh.CausationId);
        Assert.Equal(second.RunId, again.RunId);
        Assert.Equal(second.Id, again.CausationId);
        Assert.NotEqual(fresh.Id, again.Id);
    }

    [Fact]
    public async Task Answers_a_job_from_a_record_another_runner_left_in_the_same_store()
    {
        var job = Fakes.Evaluation();
        var firstUnit = Fakes.Evaluator(0.6);
        await new StageRunner(folder.Context(), [firstUnit]).RunAsync(job);
        var secondUnit = Fakes.Evaluator(0.1);

        var answer = (TargetEvaluated)await new StageRunner(folder.Context(), [secondUnit]).RunAsync(job with { Id = Guid.NewGuid() });

        Assert.Equal(0, secondUnit.Runs);
        Assert.True(answer.Stats.Cached);
        Assert.Equal(0.6, answer.Accuracy);
    }

    [Fact]
    public async Task Records_the_result_under_its_stage_and_job_key()
    {
        var runner = new StageRunner(folder.Context(), [Fakes.Evaluator(0.625)]);
        var job = Fakes.Evaluation();

        Assert.Null(await runner.TryCachedAsync(job));
        await runner.RunAsync(job);

        Assert.Equal($"result/evaluate/{job.Key}", ResultRecords.Key(job));
        var json = await folder.Store().GetRecordAsync(ResultRecords.Key(job));
        Assert.NotNull(json);
        var recorded = Assert.IsType<TargetEvaluated>(ContractJson.Deserialize<Envelope>(json).Open());
        Assert.Equal(0.625, recorded.Accuracy);
        Assert.Equal(job.Key, recorded.JobKey);
        Assert.False(recorded.Stats.Cached);
    }

    [Fact]
    public async Task Runs_a_job_again_when_an_output_of_its_record_is_missing_from_the_store()
    {
        var unit = Fakes.Finetuner();
        var runner = new StageRunner(folder.Context(), [unit]);
        var job = Fakes.Finetune();
        var first = (TargetFinetuned)await runner.RunAsync(job);
        Assert.NotNull(await runner.TryCachedAsync(job));

        File.Delete(folder.ObjectPath(first.ModelDigest));
        Assert.Null(await runner.TryCachedAsync(job));
        var second = (TargetFinetuned)await runner.RunAsync(job with { Id = Guid.NewGuid() });

        Assert.Equal(2, unit.Runs);
        Assert.Equal(first.ModelDigest, second.ModelDigest);
        Assert.True(await folder.Store().ExistsAsync(second.ModelDigest));
        var third = (TargetFinetuned)await runner.RunAsync(job with { Id = Guid.NewGuid() });
        Assert.Equal(2, unit.Runs);
        Assert.True(third.Stats.Cached);
    }

    [Fact]
    public async Task Reports_a_job_run_again_for_a_missing_output_as_not_cached()
    {
        var unit = Fakes.Finetuner();
        var runner = new StageRunner(folder.Context(), [unit]);
        var job = Fakes.Finetune();
        var first = (TargetFinetuned)await runner.RunAsync(job);
        File.Delete(folder.ObjectPath(first.InitModelDigest));

        var second = (TargetFinetuned)await runner.RunAsync(job with { Id = Guid.NewGuid() });

        Assert.Equal(2, unit.Runs);
        Assert.False(second.Stats.Cached);
    }

    [Fact]
    public async Task Records_nothing_when_the_unit_throws()
    {
        int calls = 0;
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, (job, context, _) =>
            ++calls == 1
                ? throw new InvalidOperationException("the model file is corrupt")
                : Task.FromResult<IntegrationEvent>(new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, 0.5, 1, 10, new StageStats(0, 0, 0, false, "w"))));
        var runner = new StageRunner(folder.Context(), [unit]);
        var job = Fakes.Evaluation();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(job));

        Assert.Equal("the model file is corrupt", error.Message);
        Assert.Null(await folder.Store().GetRecordAsync(ResultRecords.Key(job)));
        Assert.Null(await runner.TryCachedAsync(job));
        var retried = (TargetEvaluated)await runner.RunAsync(job);
        Assert.Equal(2, unit.Runs);
        Assert.False(retried.Stats.Cached);
    }

    [Fact]
    public async Task Keeps_the_first_answer_when_another_worker_finished_the_same_job_meanwhile()
    {
        var job = Fakes.Evaluation();
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, async (j, context, _) =>
        {
            // Another worker records its answer while this one is still running.
            var theirs = new TargetEvaluated(j.Key, j.ModelDigest, j.Subject, 0.9, 0.3, 500, new StageStats(0, 1, 1, false, "other"));
            Assert.True(await context.Records.TryAddRecordAsync(ResultRecords.Key(j), ContractJson.Serialize(Envelope.Of(theirs))));
            return new TargetEvaluated(j.Key, j.ModelDigest, j.Subject, 0.2, 2.0, 500, new StageStats(0, 1, 1, false, context.Worker));
        });
        var runner = new StageRunner(folder.Context(), [unit]);

        var answer = (TargetEvaluated)await runner.RunAsync(job);

        Assert.Equal(0.9, answer.Accuracy);
        Assert.Equal(job.RunId, answer.RunId);
        var recorded = (TargetEvaluated)ContractJson.Deserialize<Envelope>((await folder.Store().GetRecordAsync(ResultRecords.Key(job)))!).Open();
        Assert.Equal(0.9, recorded.Accuracy);
    }

    [Fact]
    public async Task Refuses_a_job_of_a_stage_it_does_not_run()
    {
        var runner = new StageRunner(folder.Context(), [Fakes.Evaluator()]);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(Fakes.Finetune()));

        Assert.Contains("finetune", error.Message);
        Assert.False(runner.CanRun(Fakes.Finetune()));
        Assert.True(runner.CanRun(Fakes.Evaluation()));
    }

    [Fact]
    public async Task Reports_the_first_and_the_last_step_of_a_job_as_progress()
    {
        var unit = new FakeUnit<EvaluateModel>(StageNames.Evaluate, (job, context, progress) =>
        {
            for (int step = 1; step <= 20; step++)
                progress.Report(new StepReport("evaluate", step, 20, 1.0 / step, 100, TimeSpan.FromSeconds(step)));
            return Task.FromResult<IntegrationEvent>(new TargetEvaluated(job.Key, job.ModelDigest, job.Subject, 0.5, 1, 10, new StageStats(20, 1, 1, false, "w")));
        });
        var runner = new StageRunner(folder.Context(), [unit]);
        var job = Fakes.Evaluation();
        var reports = new List<StageProgress>();

        await runner.RunAsync(job, reports.Add);

        Assert.Equal(1, reports[0].Step);
        Assert.Equal(20, reports[^1].Step);
        Assert.True(reports.Count <= 20);
        Assert.All(reports, r =>
        {
            Assert.Equal(job.Key, r.JobKey);
            Assert.Equal(StageNames.Evaluate, r.Stage);
            Assert.Equal(20, r.Steps);
            Assert.Equal(job.RunId, r.RunId);
            Assert.Equal(job.Id, r.CausationId);
            Assert.Equal("test-worker", r.Worker);
        });
    }
}
