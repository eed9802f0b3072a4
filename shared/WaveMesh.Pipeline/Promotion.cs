using System.Globalization;
using WaveMesh.Contracts;

namespace WaveMesh.Pipeline;

/// <summary>
/// Which of a size's models may be promoted (the pipeline's <c>promotion</c> section): its final accuracy at the
/// pipeline's budget must reach <see cref="MinAccuracy"/> and be at or above each method of <see cref="Beat"/> run for
/// that size; and it replaces an already promoted model only if it is not worse than it by more than <see cref="Tolerance"/>.
/// Accuracies are fractions (0.85 is 85%).
/// </summary>
public sealed record PromotionPolicy
{
    public double MinAccuracy { get; init; }
    public IReadOnlyList<string> Beat { get; init; } = [Methods.Scratch];
    public double Tolerance { get; init; } = 0.005;

    public bool Equals(PromotionPolicy? other) =>
        other is not null && MinAccuracy == other.MinAccuracy && Tolerance == other.Tolerance && Beat.SequenceEqual(other.Beat);

    public override int GetHashCode() => HashCode.Combine(MinAccuracy, Tolerance, string.Join(",", Beat));
}

/// <summary>A size's model that passed its pipeline's gate.</summary>
public sealed record PromotionCandidate(ModelSize Size, string Method, double Accuracy, string ModelDigest);

/// <summary>The already promoted model a candidate is measured against.</summary>
public sealed record PromotedModel(string Method, double Accuracy, string ModelDigest);

/// <summary>What to do with a size's candidate: promote it (replacing <see cref="Replaces"/>), keep what is promoted, or nothing new.</summary>
public sealed record PromotionDecision(bool Promote, bool Unchanged, string? Reason, string? Replaces);

/// <summary>The promotion rules, with no I/O: which sizes of a run are settled, which model of a size passes, and whether it replaces the promoted one.</summary>
public static class Promotion
{
    /// <summary>Sizes whose every method has its final evaluation (or is not applicable); every size once the run is complete.</summary>
    public static IReadOnlyList<ModelSize> SettledSizes(RunState state, bool runComplete) =>
        state.Definition.Targets.Where(size => runComplete || state.Definition.Methods.All(plan =>
            state.NotApplicable.Contains((size, plan.Method)) ||
            state.Branches.Any(b => b.Target == size && b.Method == plan.Method && b.Final is not null))).ToList();

    /// <summary>
    /// The most accurate final model of <paramref name="size"/> that meets the policy, or null and the reason none does.
    /// A method of <see cref="PromotionPolicy.Beat"/> that did not run for this size sets no bar.
    /// </summary>
    public static (PromotionCandidate? Candidate, string? Reason) Choose(RunState state, ModelSize size, PromotionPolicy policy)
    {
        var finals = state.Branches.Where(b => b.Target == size && b.Final is not null)
            .Select(b => new PromotionCandidate(size, b.Method, b.Final!.Accuracy, b.Final.ModelDigest))
            .OrderByDescending(c => c.Accuracy).ThenBy(c => c.Method, StringComparer.Ordinal).ToList();
        if (finals.Count == 0) return (null, $"no model of {size.Slug} was evaluated (its jobs failed)");
        string? reason = null;
        foreach (var c in finals)
        {
            if (c.Accuracy < policy.MinAccuracy)
            {
                reason ??= $"{c.Method} at {Pct(c.Accuracy)} is under the minimum accuracy {Pct(policy.MinAccuracy)}";
                continue;
            }
            var better = finals.FirstOrDefault(o => o.Method != c.Method && policy.Beat.Contains(o.Method) && o.Accuracy > c.Accuracy);
            if (better is null) return (c, null);
            reason ??= $"{c.Method} at {Pct(c.Accuracy)} does not beat {better.Method} at {Pct(better.Accuracy)}";
        }
        return (null, reason);
    }

    /// <summary>Whether <paramref name="candidate"/> replaces <paramref name="current"/> (null: nothing promoted yet).</summary>
    public static PromotionDecision Decide(PromotionCandidate candidate, PromotedModel? current, double tolerance)
    {
        if (current is null) return new(true, false, null, null);
        if (current.ModelDigest == candidate.ModelDigest) return new(false, true, null, null);
        if (candidate.Accuracy >= current.Accuracy - tolerance) return new(true, false, null, current.ModelDigest);
        return new(false, false,
            $"{candidate.Method} at {Pct(candidate.Accuracy)} is {Pct(current.Accuracy - candidate.Accuracy)} under the promoted {current.Method} " +
            $"model at {Pct(current.Accuracy)} (tolerance {Pct(tolerance)})", null);
    }

    static string Pct(double fraction) => (fraction * 100).ToString("F2", CultureInfo.InvariantCulture) + "%";
}
