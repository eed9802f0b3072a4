using TorchSharp.Modules;
using WaveMesh.Engine.Training;

namespace WaveMesh.Engine.Wave;

/// <summary>
/// Multipliers of the learning rate per parameter group of the templated stages. A scale of 0 freezes the group.
/// </summary>
public sealed record LearningRateScales
{
    /// <summary>The block matrices' templates (stage 1 only: stage 2 never moves templates).</summary>
    public double Templates { get; init; } = 1;
    /// <summary>The block matrices' scalers.</summary>
    public double Scalers { get; init; } = 1;
    /// <summary>Everything that makes LayerNorms and biases: their templates and scalers, or the vectors themselves.</summary>
    public double Vectors { get; init; } = 1;
    /// <summary>Everything that makes the position embedding, class token, patch projection and head weight.</summary>
    public double Embeddings { get; init; } = 1;

    public static readonly LearningRateScales One = new();

    public double Of(TemplateCategory category, bool template) => category switch
    {
        TemplateCategory.Matrix => template ? Templates : Scalers,
        TemplateCategory.Vector => Vectors,
        _ => Embeddings,
    };
}

/// <summary>Which parameters the templated stages train, grouped by learning-rate scale and weight decay.</summary>
public static class WaveParameters
{
    /// <summary>
    /// Stage 1: every template and every auxiliary scaler, each scaled by its group. Weight decay falls on the matrix
    /// and embedding templates and on matrix-like parameters carried as they are (patch projection, head), as timm
    /// decays matrices only; scalers set the scale of every composed weight and are not decayed.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> ForDistillation(TemplateSet templates, ScalerSet aux, LearningRateScales scales, double weightDecay)
    {
        var entries = new List<(Parameter P, double Scale, double Decay)>();
        var templateParameters = templates.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var kind in templates.Kinds.Where(k => k.IsTemplated))
            entries.Add((templateParameters[kind.Key], scales.Of(kind.Category, template: true),
                kind.Category == TemplateCategory.Vector ? 0 : weightDecay));
        // The templates' head bias is not trained here: it is overwritten with the auxiliary model's after stage 1.
        entries.AddRange(SizeOwned(aux, scales, weightDecay, includeShared: true));
        return Group(entries);
    }

    /// <summary>Stage 2: the target's scalers and the parameters it owns as they are, except those shared as they are (templates stay frozen).</summary>
    public static IReadOnlyList<ParameterGroup> ForScalers(ScalerSet target, LearningRateScales scales, double weightDecay) =>
        Group(SizeOwned(target, scales, weightDecay, includeShared: false));

    static IEnumerable<(Parameter, double, double)> SizeOwned(ScalerSet scalers, LearningRateScales scales, double weightDecay, bool includeShared)
    {
        var parameters = scalers.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var kind in scalers.Kinds)
        {
            if (kind.Carry == Carry.Shared && !includeShared) continue;
            bool matrixLike = !kind.IsTemplated && kind.Name is "patch_embed.proj.weight" or "head.weight";
            yield return (parameters[kind.Key], scales.Of(kind.Category, template: false), matrixLike ? weightDecay : 0);
        }
        foreach (var name in TemplateKinds.Free)
            yield return (parameters[name], scales.Vectors, 0);
    }

    static IReadOnlyList<ParameterGroup> Group(IEnumerable<(Parameter P, double Scale, double Decay)> entries) =>
        entries.Where(e => e.Scale > 0)
            .GroupBy(e => (e.Scale, e.Decay))
            .Select(g => new ParameterGroup(g.Select(e => e.P).ToList(), g.Key.Decay, g.Key.Scale))
            .ToList();
}
