using WaveMesh.Contracts;

namespace WaveMesh.Observability.Tests;

public sealed class Building_the_run_ledger
{
    static RunLedger Ledger(IEnumerable<object> messages)
    {
        var ledger = new RunLedger();
        foreach (var m in messages) ledger.Apply(m);
        return ledger;
    }

    static LedgerEntry Entry(RunLedger ledger, StageJob job) => ledger.Run(Recorded.Run)!.Jobs.Single(j => j.JobKey == job.Key);

    [Fact]
    public void Records_every_job_with_its_state_worker_times_progress_and_results()
    {
        var ledger = Ledger(Recorded.InOrder());
        var run = ledger.Run(Recorded.Run)!;

        Assert.Equal(4, run.Jobs.Count);
        Assert.All(run.Jobs, j => Assert.Equal(JobStatus.Succeeded, j.Status));
        var finetune = Entry(ledger, Recorded.Finetune);
        Assert.Equal("worker-1", finetune.Worker);
        Assert.Equal("L2 D64 H2", finetune.Target);
        Assert.Equal("wave", finetune.Method);
        Assert.Equal(Recorded.Finetune.CreatedAt, finetune.QueuedAt);
        Assert.Equal(Recorded.Finetuned.CreatedAt, finetune.EndedAt);
        Assert.Equal(200, finetune.Progress!.Step);
        Assert.Equal([100, 200], finetune.Loss.Select(p => p.Step));
        Assert.Equal(120_000, finetune.Results!.Parameters);
        var evaluation = Entry(ledger, Recorded.EvaluateFinal);
        Assert.Equal(0.83, evaluation.Results!.Accuracy);
        Assert.Equal("final", evaluation.Phase);
    }

    [Fact]
    public void Ends_in_the_same_state_whatever_the_order_and_however_often_messages_arrive()
    {
        var inOrder = Ledger(Recorded.InOrder());
        var shuffled = Recorded.InOrder().OrderBy(m => m.GetHashCode()).ToList();
        // Results before their jobs, progress after completion, every message twice.
        var scrambled = Ledger(shuffled.Concat(shuffled).Reverse());

        foreach (var job in new StageJob[] { Recorded.Distill, Recorded.Scale, Recorded.Finetune, Recorded.EvaluateFinal })
        {
            var a = Entry(inOrder, job);
            var b = Entry(scrambled, job);
            Assert.Equal(a.Status, b.Status);
            Assert.Equal(a.Results?.Accuracy, b.Results?.Accuracy);
            Assert.Equal(a.Progress?.Step, b.Progress?.Step);
            Assert.Equal(a.Loss.Select(p => p.Step), b.Loss.Select(p => p.Step));
            Assert.Equal(a.Description, b.Description);
        }
    }

    [Fact]
    public void Progress_that_arrives_after_the_result_never_moves_a_job_back_to_running()
    {
        var ledger = Ledger([Recorded.Scale, Recorded.Scaled, Recorded.Progress(Recorded.Scale, 10, 50, 2.0, 2)]);
        Assert.Equal(JobStatus.Succeeded, Entry(ledger, Recorded.Scale).Status);
    }

    [Fact]
    public void Shows_a_job_as_running_while_its_progress_comes_in_and_keeps_the_furthest_step()
    {
        var ledger = Ledger([Recorded.Finetune, Recorded.Progress(Recorded.Finetune, 150, 200, 0.5, 4), Recorded.Progress(Recorded.Finetune, 100, 200, 0.6, 4)]);
        var entry = Entry(ledger, Recorded.Finetune);
        Assert.Equal(JobStatus.Running, entry.Status);
        Assert.Equal(150, entry.Progress!.Step);
        Assert.Equal([100, 150], entry.Loss.Select(p => p.Step));
    }

    [Fact]
    public void A_cached_replay_of_a_finished_job_changes_nothing_and_a_cached_first_answer_says_cached()
    {
        var replay = Recorded.Scaled with { Id = Guid.NewGuid(), Stats = Recorded.Scaled.Stats with { Cached = true } };
        var ledger = Ledger([Recorded.Scale, Recorded.Scaled, replay]);
        Assert.Equal(JobStatus.Succeeded, Entry(ledger, Recorded.Scale).Status);

        var fromCache = Ledger([Recorded.Scale, replay]);
        Assert.Equal(JobStatus.Cached, Entry(fromCache, Recorded.Scale).Status);
    }

    [Fact]
    public void A_failure_is_recorded_with_its_reason_and_a_later_success_replaces_it()
    {
        var failed = new StageFailed(Recorded.Finetune.Key, "finetune", Recorded.Finetune.Describe(), "CUDA out of memory", 3) { RunId = Recorded.Run };
        var ledger = Ledger([Recorded.Finetune, failed]);
        var entry = Entry(ledger, Recorded.Finetune);
        Assert.Equal(JobStatus.Failed, entry.Status);
        Assert.Equal("CUDA out of memory", entry.Error);

        ledger.Apply(Recorded.Finetuned);
        Assert.Equal(JobStatus.Succeeded, Entry(ledger, Recorded.Finetune).Status);
        Assert.Null(Entry(ledger, Recorded.Finetune).Error);
    }

    [Fact]
    public void The_run_takes_the_outcome_of_its_completion_event()
    {
        var ledger = Ledger(Recorded.InOrder().Append(new RunCompleted(RunOutcome.Succeeded, 4, 0) { RunId = Recorded.Run }));
        Assert.Equal("succeeded", ledger.Run(Recorded.Run)!.Status);
        Assert.Equal(4, ledger.Summaries().Single().Succeeded);
    }

    [Fact]
    public void Traces_the_lineage_of_a_model_up_to_the_teacher_and_down_to_its_evaluation()
    {
        var ledger = Ledger(Recorded.InOrder());
        var lineage = ledger.Lineage(Recorded.WaveInit);

        var stages = lineage.Jobs.Select(j => j.Stage).ToHashSet();
        Assert.Equal(new HashSet<string> { "distill", "scalers", "finetune", "evaluate" }, stages);
        Assert.Contains(lineage.Jobs, j => j.Stage == "distill" && j.Inputs["teacher"] == Recorded.Teacher);
        Assert.Contains(lineage.Jobs, j => j.Stage == "evaluate" && j.Accuracy == 0.83);
        Assert.Empty(ledger.Lineage(new string('0', 64)).Jobs);
    }

    [Fact]
    public void A_run_written_out_and_read_back_is_the_same_run()
    {
        var ledger = Ledger(Recorded.InOrder());
        var json = ledger.Json(Recorded.Run)!;
        var restored = new RunLedger();
        restored.Restore(LedgerJson.Deserialize<LedgerRun>(json));

        Assert.Equal(json, restored.Json(Recorded.Run));
        // A message applied before the restart is still recognised as seen.
        restored.Apply(Recorded.Scaled);
        Assert.Equal(json, restored.Json(Recorded.Run));
    }
}
