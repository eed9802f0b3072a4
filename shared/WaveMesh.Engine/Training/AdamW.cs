using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>
/// AdamW (decoupled weight decay) over parameter groups. Written here rather than taken from TorchSharp because
/// TorchSharp's optimizers create several native Scalars per parameter per step and never dispose them; the GC then
/// frees hundreds of native objects a step on its finalizer thread while the training thread is inside libtorch,
/// which crashed long runs. Every native object here is created once per step and disposed on the training thread.
/// </summary>
public sealed class AdamW : IDisposable
{
    sealed class State(Parameter p) : IDisposable
    {
        public readonly Parameter Parameter = p;
        public readonly Tensor ExpAvg = zeros_like(p).DetachFromDisposeScope();
        public readonly Tensor ExpAvgSq = zeros_like(p).DetachFromDisposeScope();

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
        }
    }

    readonly List<(State[] States, double WeightDecay, double LearningRateScale)> groups;
    readonly double beta1, beta2, eps;
    long steps;

    public AdamW(IEnumerable<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        using var noGrad = no_grad();
        this.groups = groups.Select(g => (g.Parameters.Select(p => new State(p)).ToArray(), g.WeightDecay, g.LearningRateScale)).ToList();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var (states, _, _) in groups)
        foreach (var s in states)
            s.Parameter.grad = null;
    }

    /// <summary>
    /// One update at peak learning rate <paramref name="learningRate"/> (times each group's scale):
    /// p -= lr (wd p + m_hat / (sqrt(v_hat) + eps)), with m and v the bias-corrected moving averages of g and g^2.
    /// </summary>
    public void Step(double learningRate)
    {
        steps++;
        double bias1 = 1 - Math.Pow(beta1, steps), bias2 = 1 - Math.Pow(beta2, steps);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var beta1Scalar = beta1.ToScalar();
        using var oneMinusBeta1 = (1 - beta1).ToScalar();
        using var beta2Scalar = beta2.ToScalar();
        using var oneMinusBeta2 = (1 - beta2).ToScalar();
        using var epsScalar = eps.ToScalar();
        using var sqrtBias2 = Math.Sqrt(bias2).ToScalar();
        foreach (var (states, weightDecay, scale) in groups)
        {
            double lr = learningRate * scale;
            using var decay = (1 - lr * weightDecay).ToScalar();
            using var stepSize = (-lr / bias1).ToScalar();
            foreach (var s in states)
            {
                using var grad = s.Parameter.grad;
                if (grad is null) continue;
                if (weightDecay != 0) s.Parameter.mul_(decay);
                s.ExpAvg.mul_(beta1Scalar).add_(grad, oneMinusBeta1);
                s.ExpAvgSq.mul_(beta2Scalar).addcmul_(grad, grad, oneMinusBeta2);
                using var denominator = s.ExpAvgSq.sqrt().div_(sqrtBias2).add_(epsScalar);
                s.Parameter.addcdiv_(s.ExpAvg, denominator, stepSize);
            }
        }
    }

    public void Dispose()
    {
        foreach (var (states, _, _) in groups)
        foreach (var s in states)
            s.Dispose();
    }
}
