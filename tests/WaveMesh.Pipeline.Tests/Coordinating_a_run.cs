using WaveMesh.Contracts;
using static WaveMesh.Pipeline.Tests.Fabricated;

namespace WaveMesh.Pipeline.Tests;

public sealed class Coordinating_a_run
{
    readonly Guid runId = Guid.NewGuid();

    RunCoordinator Coordinator(PipelineDefinition definition, TeacherChanged? teacher = null) =>
        new(definition, runId, teacher ?? Teacher(runId));

    [Fact]
    public void Is_not_complete_before_it_starts()
    {
        var run = Coordinator(Definition([Small]));

        Assert.False(run.IsComplete);
        Assert.Empty(run.Outstanding);
    }

    [Fact]
    public void Dispatches_the_teacher_evaluation_the_distillation_and_the_baselines_when_it_starts()
    {
        var definition = Definition([Small, Same]);
        var teacher = Teacher(runId);
        var run = Coordinator(definition, teacher);

        var jobs = run.Start();

        var evaluation = Assert.Single(jobs.OfType<EvaluateModel>());
        Assert.Equal(teacher.TeacherDigest, evaluation.ModelDigest);
        Assert.Equal(EvaluationSubject.Teacher, evaluation.Subject);
        Assert.Null(evaluation.Data.Subset);

        var distill = Assert.Single(jobs.OfType<DistillTemplates>());
        Assert.Equal(teacher.TeacherDigest, distill.TeacherDigest);
        Assert.Equal(definition.Auxiliary, distill.Auxiliary);
        Assert.Equal(definition.Templates, distill.Templates);
        Assert.Equal(definition.Distill, distill.Training);
        Assert.Equal(definition.Seed, distill.Seed);

        var finetunes = jobs.OfType<FinetuneTarget>().ToList();
        Assert.Equal(4, finetunes.Count);
        Assert.DoesNotContain(finetunes, f => f.Method == Methods.Wave);
        foreach (var target in new[] { Small, Same })
        {
            var scratch = Assert.Single(finetunes, f => f.Target == target && f.Method == Methods.Scratch);
            Assert.Equal(new InitSource(InitSource.Scratch), scratch.Init);
            Assert.Equal(Scratch.Training, scratch.Training);
            var selection = Assert.Single(finetunes, f => f.Target == target && f.Method == Methods.WeightSelection);
            Assert.Equal(new InitSource(InitSource.WeightSelection, teacher.TeacherDigest), selection.Init);
            Assert.Equal(WeightSelection.Training, selection.Training);
            Assert.Equal(definition.CurvePoints, selection.CurvePoints);
        }

        Assert.Equal(6, jobs.Count);
        Assert.All(jobs, j => Assert.Equal(runId, j.RunId));
        Assert.All(jobs, j => Assert.Equal(teacher.Id, j.CausationId));
        Assert.Equal(jobs.Select(j => j.Key).Order(), run.Outstanding.Select(j => j.Key).Order());
        Assert.Empty(run.State.NotApplicable);
    }

    [Fact]
    public void Dispatches_weight_selection_only_for_targets_no_larger_than_the_teacher()
    {
        var run = Coordinator(Definition([Small, Same, Wider, Deeper]));

        var jobs = run.Start();

        var selected = jobs.OfType<FinetuneTarget>().Where(f => f.Method == Methods.WeightSelection).Select(f => f.Target).ToList();
        Assert.Equal([Small, Same], selected);
        Assert.Equal([(Wider, Methods.WeightSelection), (Deeper, Methods.WeightSelection)], run.State.NotApplicable);
        var scratch = jobs.OfType<FinetuneTarget>().Where(f => f.Method == Methods.Scratch).Select(f => f.Target).ToList();
        Assert.Equal([Small, Same, Wider, Deeper], scratch);
    }

    [Fact]
    public void Does_not_select_weights_from_a_teacher_of_another_family()
    {
        var run = Coordinator(Definition([Small]), Teacher(runId, new ModelFamily(PatchSize: 4)));

        var jobs = run.Start();

        Assert.DoesNotContain(jobs.OfType<FinetuneTarget>(), f => f.Method == Methods.WeightSelection);
        Assert.Equal([(Small, Methods.WeightSelection)], run.State.NotApplicable);
    }

    [Fact]
    public void Does_not_distil_templates_when_WAVE_is_not_among_the_methods()
    {
        var run = Coordinator(Definition([Small], Scratch));

        var jobs = run.Start();

        Assert.Empty(jobs.OfType<DistillTemplates>());
        Assert.Single(jobs.OfType<EvaluateModel>());
        Assert.Equal(Small, Assert.Single(jobs.OfType<FinetuneTarget>()).Target);
    }

    [Fact]
    public void Dispatches_the_scalers_of_every_target_when_templates_are_distilled()
    {
        var definition = Definition([Small, Wider, Deeper]);
        var run = Coordinator(definition);
        var distill = run.Start().OfType<DistillTemplates>().Single();
        var distilled = (TemplatesDistilled)ResultOf(distill);

        var jobs = run.Handle(distilled);

        var scalers = jobs.Cast<TrainScalers>().ToList();
        Assert.Equal([Small, Wider, Deeper], scalers.Select(s => s.Target));
        Assert.All(scalers, s =>
        {
            Assert.Equal(distilled.TemplatesDigest, s.TemplatesDigest);
            Assert.Equal(distilled.AuxScalersDigest, s.AuxScalersDigest);
            Assert.Equal(run.State.Teacher.TeacherDigest, s.TeacherDigest);
            Assert.Equal(definition.ScalerInit, s.Init);
            Assert.Equal(definition.ScalerSubset, s.Data.Subset);
            Assert.Equal(definition.Seed, s.Data.SubsetSeed);
            Assert.Equal(definition.Scalers, s.Training);
            Assert.Equal(runId, s.RunId);
            Assert.Equal(distilled.Id, s.CausationId);
        });
        Assert.Same(distilled, run.State.Templates);
    }

    [Fact]
    public void Finetunes_a_WAVE_target_from_the_model_its_scalers_made()
    {
        var definition = Definition([Small]);
        var run = Coordinator(definition);
        var scalerJob = (TrainScalers)run.Handle(ResultOf(run.Start().OfType<DistillTemplates>().Single())).Single();
        var trained = (ScalersTrained)ResultOf(scalerJob);

        var finetune = Assert.IsType<FinetuneTarget>(Assert.Single(run.Handle(trained)));

        Assert.Equal(Methods.Wave, finetune.Method);
        Assert.Equal(Small, finetune.Target);
        Assert.Equal(new InitSource(InitSource.Model, trained.ModelDigest), finetune.Init);
        Assert.Equal(Wave.Training, finetune.Training);
        Assert.Equal(definition.CurvePoints, finetune.CurvePoints);
        Assert.Null(finetune.Data.Subset);
        Assert.Equal(trained.Id, finetune.CausationId);
        Assert.Same(trained, run.State.Branch(Small, Methods.Wave).Scalers);
    }

    [Fact]
    public void Evaluates_the_initial_and_the_final_model_of_a_finetuned_target()
    {
        var run = Coordinator(Definition([Small]));
        var scratch = run.Start().OfType<FinetuneTarget>().Single(f => f.Method == Methods.Scratch);
        var finetuned = (TargetFinetuned)ResultOf(scratch);

        var jobs = run.Handle(finetuned).Cast<EvaluateModel>().ToList();

        Assert.Equal(2, jobs.Count);
        var init = Assert.Single(jobs, j => j.Subject == "2x64x2/scratch/init");
        var final = Assert.Single(jobs, j => j.Subject == "2x64x2/scratch/final");
        Assert.Equal(finetuned.InitModelDigest, init.ModelDigest);
        Assert.Equal(finetuned.ModelDigest, final.ModelDigest);
        Assert.All(jobs, j => Assert.Null(j.Data.Subset));
        Assert.All(jobs, j => Assert.Equal(finetuned.Id, j.CausationId));
        Assert.Same(finetuned, run.State.Branch(Small, Methods.Scratch).Finetuned);
    }

    [Fact]
    public void Records_evaluations_in_the_branch_and_phase_their_subject_names()
    {
        var run = Coordinator(Definition([Small]));
        var scratch = run.Start().OfType<FinetuneTarget>().Single(f => f.Method == Methods.Scratch);
        var evaluations = run.Handle(ResultOf(scratch)).Cast<EvaluateModel>().ToList();
        var init = ResultOf(evaluations.Single(e => e.Subject.EndsWith("/init")));
        var final = ResultOf(evaluations.Single(e => e.Subject.EndsWith("/final")));

        run.Handle(final);
        run.Handle(init);

        var branch = run.State.Branch(Small, Methods.Scratch);
        Assert.Same(init, branch.Init);
        Assert.Same(final, branch.Final);
        Assert.True(branch.IsComplete);
    }

    [Fact]
    public void Completes_exactly_when_nothing_is_outstanding()
    {
        var run = Coordinator(Definition([Small], Scratch));
        var pending = new Queue<StageJob>(run.Start());
        int handled = 0;

        while (pending.TryDequeue(out var job))
        {
            Assert.False(run.IsComplete, $"complete with {pending.Count + 1} jobs still outstanding");
            foreach (var next in run.Handle(ResultOf(job))) pending.Enqueue(next);
            handled++;
        }

        Assert.True(run.IsComplete);
        Assert.Empty(run.Outstanding);
        Assert.Equal(4, handled); // teacher evaluation, scratch finetune, its init and final evaluations
        var completion = run.Completion();
        Assert.Equal(RunOutcome.Succeeded, completion.Outcome);
        Assert.Equal(4, completion.Jobs);
        Assert.Equal(0, completion.Failed);
        Assert.Equal(runId, completion.RunId);
    }

    [Fact]
    public void Dispatches_nothing_for_a_repeated_event()
    {
        var run = Coordinator(Definition([Small]));
        var distilled = ResultOf(run.Start().OfType<DistillTemplates>().Single());
        Assert.NotEmpty(run.Handle(distilled));
        int outstanding = run.Outstanding.Count;

        var again = run.Handle(distilled);
        var redelivered = run.Handle(distilled with { Id = Guid.NewGuid() });

        Assert.Empty(again);
        Assert.Empty(redelivered);
        Assert.Equal(outstanding, run.Outstanding.Count);
    }

    [Fact]
    public void Dispatches_nothing_for_an_event_of_another_run()
    {
        var run = Coordinator(Definition([Small]));
        var distill = run.Start().OfType<DistillTemplates>().Single();
        int outstanding = run.Outstanding.Count;

        var jobs = run.Handle(ResultOf(distill) with { RunId = Guid.NewGuid() });

        Assert.Empty(jobs);
        Assert.Equal(outstanding, run.Outstanding.Count);
        Assert.Contains(run.Outstanding, j => j.Key == distill.Key);
        Assert.Null(run.State.Templates);
    }

    [Fact]
    public void Dispatches_nothing_for_a_result_of_a_job_it_did_not_ask_for()
    {
        var run = Coordinator(Definition([Small]));
        var distill = run.Start().OfType<DistillTemplates>().Single();
        int outstanding = run.Outstanding.Count;
        var stranger = distill with { Seed = 999, Id = Guid.NewGuid() };

        var jobs = run.Handle(ResultOf(stranger));

        Assert.Empty(jobs);
        Assert.Equal(outstanding, run.Outstanding.Count);
        Assert.Null(run.State.Templates);
        Assert.Empty(run.Handle(FailureOf(stranger)));
        Assert.Empty(run.State.Failures);
    }

    [Fact]
    public void Dispatches_nothing_for_progress_or_teacher_events()
    {
        var run = Coordinator(Definition([Small]));
        var distill = run.Start().OfType<DistillTemplates>().Single();

        Assert.Empty(run.Handle(new StageProgress(distill.Key, distill.Stage, "x", 1, 2, 0.5, 10, 1, "w") { RunId = runId }));
        Assert.Empty(run.Handle(Teacher(runId)));
        Assert.Contains(run.Outstanding, j => j.Key == distill.Key);
    }

    [Fact]
    public void Records_a_failed_stage_and_blocks_only_its_branch()
    {
        var run = Coordinator(Definition([Small, Wider]));
        var failedTarget = Small;
        StageFailed? failure = null;

        var jobs = Drain(run, run.Start(), job =>
        {
            if (job is TrainScalers s && s.Target == failedTarget) return failure = FailureOf(job);
            return ResultOf(job);
        });

        Assert.True(run.IsComplete);
        Assert.NotNull(failure);
        Assert.Equal([failure], run.State.Failures);
        var completion = run.Completion();
        Assert.Equal(RunOutcome.Failed, completion.Outcome);
        Assert.Equal(1, completion.Failed);
        Assert.Equal(jobs.Count, completion.Jobs);

        Assert.DoesNotContain(jobs, j => j is FinetuneTarget { Method: Methods.Wave } f && f.Target == failedTarget);
        var blocked = run.State.Branches.SingleOrDefault(b => b.Target == failedTarget && b.Method == Methods.Wave);
        Assert.True(blocked is null || !blocked.IsComplete);
        Assert.True(run.State.Branch(Wider, Methods.Wave).IsComplete);
        Assert.True(run.State.Branch(Small, Methods.Scratch).IsComplete);
        Assert.True(run.State.Branch(Small, Methods.WeightSelection).IsComplete);
        Assert.True(run.State.Branch(Wider, Methods.Scratch).IsComplete);
        Assert.NotNull(run.State.TeacherEvaluation);
    }

    [Fact]
    public void Completes_the_baselines_when_distillation_fails()
    {
        var run = Coordinator(Definition([Small, Wider]));

        var jobs = Drain(run, run.Start(), job => job is DistillTemplates ? FailureOf(job, "teacher file is corrupt") : ResultOf(job));

        Assert.True(run.IsComplete);
        Assert.Empty(jobs.OfType<TrainScalers>());
        Assert.Equal("teacher file is corrupt", Assert.Single(run.State.Failures).Reason);
        Assert.Null(run.State.Templates);
        Assert.DoesNotContain(run.State.Branches, b => b.Method == Methods.Wave && b.IsComplete);
        Assert.Equal(3, run.State.Branches.Count(b => b.IsComplete)); // scratch x2, weight selection for the small target
        Assert.Equal(RunOutcome.Failed, run.Completion().Outcome);
    }

    [Fact]
    public void Completes_a_whole_synthetic_run_with_every_branch_complete()
    {
        var definition = Definition([Small, Same, Wider, Deeper]);
        var run = Coordinator(definition);

        var jobs = Drain(run, run.Start());

        Assert.True(run.IsComplete);
        Assert.Empty(run.Outstanding);
        var completion = run.Completion();
        Assert.Equal(RunOutcome.Succeeded, completion.Outcome);
        Assert.Equal(0, completion.Failed);
        Assert.Equal(jobs.Count, completion.Jobs);
        Assert.Equal(jobs.Count, jobs.Select(j => j.Key).Distinct().Count());

        // 4 targets x 3 methods, minus weight selection for the wider and the deeper target
        var expected = definition.Targets.SelectMany(t => Methods.All.Select(m => (t, m)))
            .Except(run.State.NotApplicable).ToList();
        Assert.Equal(10, expected.Count);
        Assert.Equal(expected.Select(b => $"{b.Item1.Slug}/{b.Item2}").Order(), run.State.Branches.Select(b => $"{b.Target.Slug}/{b.Method}").Order());
        Assert.All(run.State.Branches, b =>
        {
            Assert.True(b.IsComplete, $"{b.Target} {b.Method} is not complete");
            Assert.NotNull(b.Finetuned);
            Assert.Equal(b.Finetuned!.InitModelDigest, b.Init!.ModelDigest);
            Assert.Equal(b.Finetuned.ModelDigest, b.Final!.ModelDigest);
            if (b.Method == Methods.Wave) Assert.Equal(b.Scalers!.ModelDigest, b.Finetuned.InitModelDigest);
            else Assert.Null(b.Scalers);
        });
        Assert.NotNull(run.State.TeacherEvaluation);
        Assert.NotNull(run.State.Templates);
        Assert.Single(jobs.OfType<DistillTemplates>());
        Assert.Equal(4, jobs.OfType<TrainScalers>().Count());
        Assert.Equal(10, jobs.OfType<FinetuneTarget>().Count());
        Assert.Equal(1 + 2 * 10, jobs.OfType<EvaluateModel>().Count());
    }

    [Fact]
    public void Ends_the_same_when_results_arrive_out_of_order_and_twice()
    {
        var run = Coordinator(Definition([Small, Wider]));
        var random = new Random(3);
        var pending = new List<StageJob>(run.Start());
        var delivered = new List<IntegrationEvent>();
        int dispatched = pending.Count;

        while (pending.Count > 0)
        {
            var job = pending[random.Next(pending.Count)];
            pending.Remove(job);
            var result = ResultOf(job);
            delivered.Add(result);
            var next = run.Handle(result);
            dispatched += next.Count;
            pending.AddRange(next);
            // a redelivery of something already handled, as an at-least-once transport may do
            Assert.Empty(run.Handle(delivered[random.Next(delivered.Count)]));
        }

        Assert.True(run.IsComplete);
        Assert.Equal(RunOutcome.Succeeded, run.Completion().Outcome);
        Assert.Equal(dispatched, run.Completion().Jobs);
        Assert.Equal(5, run.State.Branches.Count);
        Assert.All(run.State.Branches, b => Assert.True(b.IsComplete));
    }
}
