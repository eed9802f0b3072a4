using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Engine.Training;

/// <summary>The losses of WAVE's stages.</summary>
public static class Losses
{
    /// <summary>
    /// Distillation from a teacher: tau^2 * KL(softmax(t/tau) || softmax(s/tau)) + CE(s, y), both averaged over the batch.
    /// </summary>
    public static Tensor Distillation(Tensor student, Tensor teacher, Tensor labels, double temperature)
    {
        using var tau = temperature.ToScalar();
        using var tauSquared = (temperature * temperature).ToScalar();
        var logPs = F.log_softmax(student.div(tau), 1);
        var logPt = F.log_softmax(teacher.div(tau), 1);
        var kl = (logPt.exp() * (logPt - logPs)).sum(1).mean();
        return kl.mul(tauSquared) + F.cross_entropy(student, labels);
    }

    public static Tensor CrossEntropy(Tensor logits, Tensor labels) => F.cross_entropy(logits, labels);
}
