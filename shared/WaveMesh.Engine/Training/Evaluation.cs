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
        ForEachBatch(model, data, normalization, device, batchSize, (logits, batch) =>
        {
            correct += logits.argmax(1).eq(batch.Labels).sum().item<long>();
            lossSum += F.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
        });
        return new EvalResult(data.Count == 0 ? 0 : (double)correct / data.Count, data.Count == 0 ? 0 : lossSum / data.Count, data.Count);
    }

    /// <summary>Logits of <paramref name="model"/> for every sample of <paramref name="data"/>, in dataset order, on <paramref name="device"/>.</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> model, ImageDataset data, Normalization normalization, Device device, int batchSize = 500)
    {
        var parts = new List<Tensor>();
        try
        {
            ForEachBatch(model, data, normalization, device, batchSize, (logits, _) => parts.Add(logits.MoveToOuterDisposeScope()));
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// The model in inference mode over <paramref name="data"/> in order: <paramref name="each"/> sees a batch's logits
    /// inside that batch's dispose scope (what it keeps it moves out), and the heap is trimmed as it grows.
    /// </summary>
    static void ForEachBatch(nn.Module<Tensor, Tensor> model, ImageDataset data, Normalization normalization, Device device, int batchSize,
        Action<Tensor, Batch> each)
    {
        using var noGrad = no_grad();
        model.eval();
        try
        {
            var loader = new BatchLoader(data, batchSize, shuffle: false, seed: 0, normalization, device);
            var trimmer = NativeHeap.Trimmer();
            foreach (var batch in loader.Epoch(0))
            {
                using (batch)
                using (NewDisposeScope())
                    each(model.forward(batch.Inputs), batch);
                trimmer.Tick();
            }
        }
        finally
        {
            model.train();
        }
    }
}
