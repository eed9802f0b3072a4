using WaveMesh.Engine.Vit;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>
/// Noise added to an initialised model before it trains (the "perturb" of Ash and Adams' shrink-and-perturb for warm
/// starts): every weight matrix (two or more dimensions, position embedding and class token excepted) gets Gaussian
/// noise whose standard deviation is <c>scale</c> times that matrix's own RMS. Biases and norms stay as they are.
/// </summary>
public static class Perturbation
{
    /// <summary>Adds the noise in place; the same seed gives the same noise. Returns how many tensors were perturbed.</summary>
    public static int Apply(VisionTransformer model, double scale, long seed)
    {
        if (scale < 0 || !double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the noise scale must be a finite number >= 0");
        if (scale == 0) return 0;
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed ^ 0x5EED_0F_9E27_B0C1UL);
        int perturbed = 0;
        foreach (var (name, w) in model.Weights().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (w.dim() < 2 || name.EndsWith("pos_embed", StringComparison.Ordinal) || name.EndsWith("cls_token", StringComparison.Ordinal)) continue;
            using var scope = NewDisposeScope();
            double rms = w.square().mean().sqrt().item<float>();
            var noise = randn(w.shape, w.dtype, generator: generator).to(w.device).mul_(scale * rms);
            w.add_(noise);
            perturbed++;
        }
        return perturbed;
    }
}
