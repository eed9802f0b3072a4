using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using WaveMesh.Data;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>AdamW with linear warm-up and cosine decay to <see cref="MinLearningRateFraction"/> of the peak; clips the gradient norm when <see cref="ClipGradNorm"/> is positive.</summary>
public sealed record TrainSchedule
{
    public int Steps { get; init; } = 100;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.05;
    public double WarmupFraction { get; init; } = 0.05;
    /// <summary>Warm-up length in steps; when set it replaces <see cref="WarmupFraction"/> (0: start at the peak).</summary>
    public int? WarmupSteps { get; init; }
    public double MinLearningRateFraction { get; init; } = 0.01;
    public double ClipGradNorm { get; init; } = 0;

    /// <summary>Learning rate at step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        int warmup = WarmupSteps ?? (int)Math.Round(WarmupFraction * Steps);
        if (step < warmup) return LearningRate * (step + 1) / warmup;
        double progress = Steps - warmup <= 1 ? 1 : (double)(step - warmup) / (Steps - warmup - 1);
        double min = MinLearningRateFraction * LearningRate;
        return min + (LearningRate - min) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}

/// <summary>Parameters trained together, with their own weight decay and a multiplier on the schedule's learning rate.</summary>
public sealed record ParameterGroup(IReadOnlyList<Parameter> Parameters, double WeightDecay, double LearningRateScale = 1.0);

/// <summary>One step's progress, for progress bars and the run ledger.</summary>
public sealed record StepReport(string Stage, int Step, int Steps, double Loss, double ExamplesPerSecond, TimeSpan Elapsed)
{
    public TimeSpan Remaining => Step <= 0 ? TimeSpan.Zero : Elapsed / Step * (Steps - Step);
}

public sealed record TrainResult(int Steps, double FinalLoss, double ExamplesPerSecond, TimeSpan Elapsed, bool Cancelled);

/// <summary>The loss of one batch from the model's logits; <c>indices</c> are the batch's positions in the dataset.</summary>
public delegate Tensor BatchLoss(Tensor logits, Tensor labels, Tensor indices, Tensor inputs);

/// <summary>The one training loop every stage uses.</summary>
public static class Trainer
{
    public static TrainResult Run(string stage, nn.Module<Tensor, Tensor> model, IReadOnlyList<ParameterGroup> groups,
        BatchLoader data, TrainSchedule schedule, BatchLoss loss, IProgress<StepReport>? progress = null,
        CancellationToken cancellation = default, Action<int>? afterStep = null)
    {
        if (schedule.Steps <= 0) return new TrainResult(0, double.NaN, 0, TimeSpan.Zero, false);
        var trainable = groups.SelectMany(g => g.Parameters).ToList();
        using var optimizer = new AdamW(groups);
        model.train();

        var clock = Stopwatch.StartNew();
        var trimmer = NativeHeap.Trimmer();
        double smoothed = double.NaN, examples = 0, warmSeconds = 0;
        int step = 0;
        for (int epoch = 0; step < schedule.Steps; epoch++)
        {
            int stepsBefore = step;
            foreach (var batch in data.Epoch(epoch))
            {
                using var owned = batch;
                if (step >= schedule.Steps) break;
                if (cancellation.IsCancellationRequested)
                    return new TrainResult(step, smoothed, Throughput(examples, clock.Elapsed.TotalSeconds - warmSeconds), clock.Elapsed, true);
                using (var scope = NewDisposeScope())
                {
                    optimizer.ZeroGrad();
                    var logits = model.forward(batch.Inputs);
                    var l = loss(logits, batch.Labels, batch.Indices, batch.Inputs);
                    l.backward();
                    if (schedule.ClipGradNorm > 0) ClipGradNorm(trainable, schedule.ClipGradNorm);
                    optimizer.Step(schedule.At(step));
                    double value = l.item<float>();
                    smoothed = double.IsNaN(smoothed) ? value : 0.95 * smoothed + 0.05 * value;
                }
                trimmer.Tick();
                step++;
                // The first step pays for allocation and warm-up; throughput counts from the second.
                if (step == 1) warmSeconds = clock.Elapsed.TotalSeconds; else examples += batch.Count;
                if (!double.IsFinite(smoothed))
                    throw new TrainingDivergedException($"{stage}: loss became {smoothed} at step {step}; lower the learning rate");
                progress?.Report(new StepReport(stage, step, schedule.Steps, smoothed,
                    Throughput(examples, clock.Elapsed.TotalSeconds - warmSeconds), clock.Elapsed));
                if (afterStep is not null)
                {
                    // Time spent in the hook (an evaluation, say) is not training time.
                    var hook = System.Diagnostics.Stopwatch.StartNew();
                    afterStep(step);
                    warmSeconds += hook.Elapsed.TotalSeconds;
                }
            }
            if (step == stepsBefore && step < schedule.Steps)
                throw new ArgumentException($"{stage}: an epoch of the training data holds no batch of {schedule.BatchSize} (too few examples)");
        }
        return new TrainResult(step, smoothed, Throughput(examples, clock.Elapsed.TotalSeconds - warmSeconds), clock.Elapsed, false);
    }

    /// <summary>Scales all gradients together so that their joint L2 norm is at most <paramref name="maxNorm"/>.</summary>
    public static double ClipGradNorm(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0;
        double total = stack(grads.Select(g => g.norm()).ToList()).norm().item<float>();
        if (total > maxNorm)
        {
            using var coefficient = (maxNorm / (total + 1e-6)).ToScalar();
            foreach (var g in grads) g.mul_(coefficient);
        }
        return total;
    }

    static double Throughput(double examples, double seconds) => seconds > 0 ? examples / seconds : 0;

    /// <summary>timm's split: weight decay on matrices only, none on biases, norms, position embedding and class token.</summary>
    public static IReadOnlyList<ParameterGroup> DecayGroups(nn.Module model, double weightDecay)
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            bool exempt = p.dim() < 2 || name.EndsWith("pos_embed") || name.EndsWith("cls_token");
            (exempt ? noDecay : decay).Add(p);
        }
        return [new ParameterGroup(decay, weightDecay), new ParameterGroup(noDecay, 0)];
    }
}

/// <summary>Training produced a non-finite loss.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
