using WaveMesh.Data;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Engine.Training;

/// <summary>Accuracy (0..1) and mean cross-entropy of a model on a dataset.</summary>
public sealed record EvalResult(double Accuracy, double Loss, int Count);

/// <summary>Inference over whole datasets: evaluation, and the teacher's logits that distillation reuses every epoch.</summary>
public static class Evaluation
{
    public static EvalResult Run(nn.Module<Tensor, Tensor> model, ImageDataset data, Normalization normalization, Device device, int batchSize = 500)
    {
        long correct = 0;
        double lossSum = 0;
        using var noGrad = no_grad();
        model.eval();
        var loader = new BatchLoader(data, batchSize, shuffle: false, seed: 0, normalization, device);
        var trimmer = NativeHeap.Trimmer();
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
            using (NewDisposeScope())
            {
                var logits = model.forward(batch.Inputs);
                correct += logits.argmax(1).eq(batch.Labels).sum().item<long>();
                lossSum += F.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
            }
            trimmer.Tick();
        }
        model.train();
        return new EvalResult(data.Count == 0 ? 0 : (double)correct / data.Count, data.Count == 0 ? 0 : lossSum / data.Count, data.Count);
    }

    /// <summary>Logits of <paramref name="model"/> for every sample of <paramref name="data"/>, in dataset order, on <paramref name="device"/>.</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> model, ImageDataset data, Normalization normalization, Device device, int batchSize = 500)
    {
        using var noGrad = no_grad();
        model.eval();
        var parts = new List<Tensor>();
        try
        {
            var loader = new BatchLoader(data, batchSize, shuffle: false, seed: 0, normalization, device);
            var trimmer = NativeHeap.Trimmer();
            foreach (var batch in loader.Epoch(0))
            {
                using (batch)
                using (NewDisposeScope())
                    parts.Add(model.forward(batch.Inputs).MoveToOuterDisposeScope());
                trimmer.Tick();
            }
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
            model.train();
        }
    }
}
