using WaveMesh.Contracts;
using static WaveMesh.Pipeline.Tests.Fabricated;

namespace WaveMesh.Pipeline.Tests;

/// <summary>The promotion gate: which sizes of a run are settled, which model of a size passes, and when it replaces the promoted one.</summary>
public sealed class Promoting_models
{
    readonly Guid runId = Guid.NewGuid();

    /// <summary>A run of <paramref name="definition"/> whose final evaluations score as <paramref name="accuracy"/> says (by size and method).</summary>
    RunCoordinator Run(PipelineDefinition definition, Func<ModelSize, string, double> accuracy, Func<StageJob, bool>? fail = null)
    {
        var run = new RunCoordinator(definition, runId, Teacher(runId));
        Drain(run, run.Start(), job =>
        {
            if (fail?.Invoke(job) == true) return FailureOf(job);
            var result = ResultOf(job);
            return result is TargetEvaluated v && EvaluationSubject.TryParse(v.Subject) is { } s
                ? v with { Accuracy = s.Phase == EvaluationSubject.Final ? accuracy(s.Target, s.Method) : 0.1 }
                : result;
        });
        return run;
    }

    static double Scores(string method) => method switch { Methods.Wave => 0.84, Methods.Scratch => 0.80, _ => 0.86 };

    [Fact]
    public void Promotes_the_most_accurate_final_model_of_a_size()
    {
        var run = Run(Definition([Small]), (_, m) => Scores(m));

        var (candidate, reason) = Promotion.Choose(run.State, Small, new PromotionPolicy());

        Assert.Null(reason);
        Assert.Equal(Methods.WeightSelection, candidate!.Method);
        Assert.Equal(0.86, candidate.Accuracy);
        var branch = run.State.Branches.Single(b => b.Target == Small && b.Method == Methods.WeightSelection);
        Assert.Equal(branch.Final!.ModelDigest, candidate.ModelDigest);
    }

    [Fact]
    public void Refuses_every_model_under_the_minimum_accuracy_and_says_which_was_best()
    {
        var run = Run(Definition([Small]), (_, m) => Scores(m));

        var (candidate, reason) = Promotion.Choose(run.State, Small, new PromotionPolicy { MinAccuracy = 0.9 });

        Assert.Null(candidate);
        Assert.Equal("weight_selection at 86.00% is under the minimum accuracy 90.00%", reason);
    }

    [Fact]
    public void A_method_to_beat_that_did_not_run_sets_no_bar()
    {
        var run = Run(Definition([Small], Wave), (_, _) => 0.7);

        var (candidate, _) = Promotion.Choose(run.State, Small, new PromotionPolicy { Beat = [Methods.Scratch, Methods.WeightSelection] });

        Assert.Equal(Methods.Wave, candidate!.Method);
    }

    [Fact]
    public void A_size_whose_every_branch_failed_has_no_candidate()
    {
        var run = Run(Definition([Small], Wave, Scratch), (_, _) => 0.7, fail: j => j is FinetuneTarget);

        Assert.True(run.IsComplete);
        Assert.Equal([Small], Promotion.SettledSizes(run.State, runComplete: true));
        var (candidate, reason) = Promotion.Choose(run.State, Small, new PromotionPolicy());
        Assert.Null(candidate);
        Assert.Equal("no model of 2x64x2 was evaluated (its jobs failed)", reason);
    }

    [Fact]
    public void A_size_is_settled_once_every_method_has_its_final_evaluation_or_does_not_apply()
    {
        var definition = Definition([Small, Deeper]);
        var run = new RunCoordinator(definition, runId, Teacher(runId));
        var pending = new Queue<StageJob>(run.Start());
        var held = new List<StageJob>();
        while (pending.TryDequeue(out var job))
        {
            // Hold back the final evaluation of Deeper's WAVE model: only Small is settled.
            if (job is EvaluateModel { Subject: var subject } && subject == new EvaluationSubject(Deeper, Methods.Wave, EvaluationSubject.Final).ToString())
            {
                held.Add(job);
                continue;
            }
            foreach (var next in run.Handle(ResultOf(job))) pending.Enqueue(next);
        }

        Assert.Contains((Deeper, Methods.WeightSelection), run.State.NotApplicable);
        Assert.Equal([Small], Promotion.SettledSizes(run.State, run.IsComplete));
        run.Handle(ResultOf(Assert.Single(held)));
        Assert.Equal([Small, Deeper], Promotion.SettledSizes(run.State, run.IsComplete));
    }

    [Theory]
    [InlineData(0.845, true)]    // better
    [InlineData(0.836, true)]    // worse, but within the tolerance of 0.005
    [InlineData(0.834, false)]   // worse by more than the tolerance
    public void A_new_candidate_replaces_the_promoted_model_unless_it_is_worse_by_more_than_the_tolerance(double accuracy, bool replaces)
    {
        var current = new PromotedModel(Methods.Wave, 0.84, Digest("old"));

        var decision = Promotion.Decide(new PromotionCandidate(Small, Methods.Scratch, accuracy, Digest("new")), current, tolerance: 0.005);

        Assert.Equal(replaces, decision.Promote);
        Assert.Equal(replaces ? Digest("old") : null, decision.Replaces);
        if (!replaces) Assert.Equal("scratch at 83.40% is 0.60% under the promoted wave model at 84.00% (tolerance 0.50%)", decision.Reason);
    }

    [Fact]
    public void The_promoted_model_offered_again_changes_nothing()
    {
        var decision = Promotion.Decide(new PromotionCandidate(Small, Methods.Wave, 0.84, Digest("same")),
            new PromotedModel(Methods.Wave, 0.84, Digest("same")), tolerance: 0);

        Assert.False(decision.Promote);
        Assert.True(decision.Unchanged);
    }

    [Fact]
    public void A_first_candidate_is_promoted_whatever_its_accuracy_once_it_passes_the_gate()
    {
        var decision = Promotion.Decide(new PromotionCandidate(Small, Methods.Wave, 0.2, Digest("m")), null, tolerance: 0);

        Assert.True(decision.Promote);
        Assert.Null(decision.Replaces);
    }

    [Fact]
    public void An_on_demand_definition_makes_one_size_with_WAVE_and_no_stage_3_step()
    {
        var definition = Definition([Small, Same]).OnDemand(Wider);

        Assert.Equal([Wider], definition.Targets);
        var plan = Assert.Single(definition.Methods);
        Assert.Equal(Methods.Wave, plan.Method);
        Assert.Equal(0, plan.Training.Steps);
    }
}
