using WaveMesh.Engine.Vit;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Baselines;

/// <summary>
/// Weight selection (Xu et al., ICLR 2024): the first L blocks of a larger teacher, and along every dimension
/// evenly spaced indices (every T/S-th when it divides, else round(linspace(0, T-1, S))). The q, k and v sections
/// of qkv are selected each on their own.
/// </summary>
public static class WeightSelection
{
    /// <summary>Every reason <paramref name="target"/> cannot be selected from <paramref name="teacher"/>.</summary>
    public static IReadOnlyList<string> Problems(VitSpec teacher, VitSpec target)
    {
        var p = new List<string>();
        if (target.Depth > teacher.Depth) p.Add($"depth {target.Depth} exceeds the teacher's {teacher.Depth}");
        if (target.Width > teacher.Width) p.Add($"width {target.Width} exceeds the teacher's {teacher.Width}");
        if (target.Hidden > teacher.Hidden) p.Add($"MLP width {target.Hidden} exceeds the teacher's {teacher.Hidden}");
        if (target with { Depth = 0, Width = 0, Heads = 0, MlpRatio = 0 } != teacher with { Depth = 0, Width = 0, Heads = 0, MlpRatio = 0 })
            p.Add("input, patch, classes and pooling must equal the teacher's");
        return p;
    }

    public static bool Applies(VitSpec teacher, VitSpec target) => Problems(teacher, target).Count == 0;

    public static VisionTransformer Select(VisionTransformer teacher, VitSpec target)
    {
        var problems = Problems(teacher.Spec, target);
        if (problems.Count > 0) throw new SpecException($"weight selection cannot make {target.Describe()} from {teacher.Spec.Describe()}: {string.Join("; ", problems)}");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var source = teacher.Weights();
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in VitLayout.Of(target))
        {
            var from = source[t.Name];
            var x = from;
            for (int dim = 0; dim < t.Shape.Length; dim++)
            {
                if (x.shape[dim] == t.Shape[dim]) continue;
                int groups = t.Name.EndsWith("attn.qkv.weight") && dim == 0 || t.Name.EndsWith("attn.qkv.bias") ? 3 : 1;
                var index = tensor(Indices(x.shape[dim], t.Shape[dim], groups), device: x.device);
                x = x.index_select(dim, index);
            }
            weights[t.Name] = x;
        }
        return new VisionTransformer(target, weights, teacher.parameters().First().device);
    }

    /// <summary>Evenly spaced indices choosing <paramref name="count"/> of <paramref name="length"/>, within each of <paramref name="groups"/> equal sections.</summary>
    public static long[] Indices(long length, long count, int groups = 1)
    {
        long sectionFrom = length / groups, sectionTo = count / groups;
        var result = new long[count];
        for (int g = 0; g < groups; g++)
        {
            for (long i = 0; i < sectionTo; i++)
            {
                long within = sectionFrom % sectionTo == 0
                    ? i * (sectionFrom / sectionTo)
                    : sectionTo == 1 ? 0 : (long)Math.Round(i * (sectionFrom - 1) / (double)(sectionTo - 1), MidpointRounding.ToEven);
                result[g * sectionTo + i] = g * sectionFrom + within;
            }
        }
        return result;
    }
}
