using static TorchSharp.torch;

namespace WaveMesh.Engine.Checkpoints;

/// <summary>
/// A timm hub folder (<see cref="TimmHub.Read"/>) made into a WaveMesh teacher: the same network, its patch embedding
/// refolded so that it takes inputs normalised as the data set's training split is (what every WaveMesh stage feeds a
/// model) instead of as its own training was. The patch embedding is linear and sees each pixel once (stride = kernel),
/// so the refold is exact: the teacher's logits on any image are unchanged.
/// </summary>
public static class HubTeacher
{
    /// <summary>Writes the hub folder's model, refolded to <paramref name="data"/>, to <paramref name="output"/>.</summary>
    public static TimmHub.HubModel Import(string folder, InputNormalization data, string output)
    {
        var hub = TimmHub.Read(folder);
        using var model = ModelFile.Load(hub.WeightsPath, heads: hub.Spec.Heads);
        Renormalize(model, hub.Normalization, data);
        ModelFile.Save(model, output, new Dictionary<string, string>
        {
            [MetadataKeys.Normalization] = data.ToJson(),
            [MetadataKeys.Source] = $"timm hub folder {Path.GetFileName(Path.TrimEndingDirectorySeparator(folder))} ({hub.Architecture}), refolded from mean [{string.Join(", ", hub.Normalization.Mean)}] std [{string.Join(", ", hub.Normalization.Std)}]",
        });
        return hub;
    }

    /// <summary>
    /// Makes a model trained on inputs normalised with <paramref name="from"/> take inputs normalised with
    /// <paramref name="to"/>. With x_from = x_to * (s_to / s_from) + (m_to - m_from) / s_from per channel c, the patch
    /// projection W x_from + b becomes W' x_to + b' with W'[:, c] = W[:, c] * s_to[c] / s_from[c] and
    /// b' = b + sum over c of (m_to[c] - m_from[c]) / s_from[c] * (sum of W[:, c] over the kernel).
    /// </summary>
    public static void Renormalize(Vit.VisionTransformer model, InputNormalization from, InputNormalization to)
    {
        int channels = model.Spec.Channels;
        if (from.Mean.Length != channels || to.Mean.Length != channels)
            throw new ArgumentException($"normalisations of {from.Mean.Length} and {to.Mean.Length} channels for a model of {channels}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var weights = model.Weights();
        var w = weights["patch_embed.proj.weight"];
        var b = weights["patch_embed.proj.bias"];
        var scale = tensor(to.Std.Zip(from.Std, (t, f) => t / f).ToArray(), device: w.device);
        var shift = tensor(to.Mean.Zip(from.Mean, (t, f) => t - f).Zip(from.Std, (d, f) => d / f).ToArray(), device: w.device);
        b.add_((w.sum([2, 3]) * shift.view(1, channels)).sum(1));   // from the original W, before it is scaled
        w.mul_(scale.view(1, channels, 1, 1));
    }
}
