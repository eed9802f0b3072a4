using WaveMesh.Benchmarks;
using WaveMesh.Contracts;

namespace WaveMesh.Reporting.Tests;

public sealed class Judging_the_benchmark_targets
{
    static readonly ModelSize Teacher = new(6, 128, 4);

    /// <summary>Cells of one size: each (method, budget) at the given accuracies, one cell per seed.</summary>
    static IEnumerable<BenchCell> Size(int depth, int width, params (string Method, double Budget, double[] Accuracies)[] cells) =>
        cells.SelectMany(c => c.Accuracies.Select((a, seed) => new BenchCell(depth, width, width / 32, 1000, c.Method, seed, c.Budget, 0, 0, a, 1)));

    static List<BenchCell> Good(int depth, int width) => Size(depth, width,
        ("wave", 0, [0.80, 0.80, 0.80]), ("wave", 0.25, [0.82, 0.82, 0.83]), ("wave", 1, [0.86, 0.86, 0.87]),
        ("scratch", 0.25, [0.50, 0.52, 0.51]), ("scratch", 1, [0.70, 0.71, 0.72]), ("scratch", 3, [0.80]),
        ("weight_selection", 0.25, [0.80, 0.80, 0.80]), ("weight_selection", 1, [0.85, 0.85, 0.85])).ToList();

    [Fact]
    public void Every_target_is_met_when_every_size_shows_it()
    {
        var cells = Good(2, 64).Concat(Good(3, 96)).Concat(Good(8, 64).Where(c => c.Method != "weight_selection")).ToList();

        var claims = Claims.Evaluate(cells, 0.912, 0.90, Teacher);

        Assert.Equal(6, claims.Count);
        Assert.All(claims, c => Assert.True(c.Met, $"{c.Text}: {c.Evidence}"));
        Assert.Contains("L8 D64 H2: WAVE@1", claims[^1].Evidence);
    }

    [Fact]
    public void A_dip_beyond_half_a_point_on_one_size_fails_the_no_dip_target_and_names_the_size()
    {
        var dipping = Good(3, 96).Select(c => c.Method == "wave" && c.BudgetEpochs == 0.25 ? c with { Accuracy = 0.794 } : c);
        var cells = Good(2, 64).Concat(dipping).ToList();

        var claim = Claims.Evaluate(cells, 0.912, 0.90, Teacher).Single(c => c.Text.StartsWith("No dip"));

        Assert.False(claim.Met);
        Assert.Contains("L3 D96 H3: 80.00% -> 79.40% (-0.60) NOT MET", claim.Evidence);
        Assert.DoesNotContain("L2 D64 H2: 80.00% -> 82.33% (+2.33) NOT MET", claim.Evidence);
    }

    [Fact]
    public void One_seed_cannot_show_a_lead_beyond_the_seed_spread_and_a_weak_auxiliary_model_fails_the_first_target()
    {
        var cells = Good(2, 64).Where(c => c.Seed == 0).ToList();

        var claims = Claims.Evaluate(cells, 0.9122, 0.85, Teacher);

        Assert.False(claims[0].Met);
        Assert.Contains("6.22 points under it", claims[0].Evidence);
        Assert.False(claims.Single(c => c.Text.StartsWith("WAVE above scratch")).Met);
        // Weight selection: judged from a quarter epoch on, on sizes unlike the teacher (L2 D64 is).
        Assert.True(claims.Single(c => c.Text.StartsWith("WAVE at or above weight selection")).Met);
        // Scratch after three epochs on one size only: not enough to judge.
        var last = claims[^1];
        Assert.False(last.Met);
        Assert.Contains("only 1 size measured", last.Evidence);
    }

    [Fact]
    public void Sizes_like_the_teacher_in_depth_or_width_are_left_out_of_the_weight_selection_target()
    {
        var losing = Size(6, 96, ("wave", 0.25, [0.70]), ("weight_selection", 0.25, [0.90]));
        var cells = Good(2, 64).Concat(losing).ToList();

        var claim = Claims.Evaluate(cells, 0.912, 0.90, Teacher).Single(c => c.Text.StartsWith("WAVE at or above weight selection"));

        Assert.True(claim.Met, claim.Evidence);
        Assert.DoesNotContain("L6 D96", claim.Evidence);
    }
}
