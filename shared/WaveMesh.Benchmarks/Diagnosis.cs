using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Benchmarks;

/// <summary>
/// Why an initialisation keeps or loses its lead in stage 3: for models of one size made by different methods (and the
/// teacher beside them), the test accuracy, cross-entropy and confidence at initialisation; the RMS of every tensor
/// kind; and how far each kind moves, relative to its size, over the first stage-3 steps of each method's own schedule.
/// </summary>
public static partial class Diagnosis
{
    /// <summary>One model to diagnose: its name, the model (disposed by the caller), and its stage-3 schedule (null: not trained).</summary>
    public sealed record Subject(string Name, VisionTransformer Model, TrainSchedule? Schedule, Augmentation Augmentation);

    /// <summary>What was measured for one subject.</summary>
    public sealed record Measured(string Name, VitSpec Spec, Fit AtInit, Fit? AfterSteps, int Steps,
        IReadOnlyDictionary<string, double> Rms, IReadOnlyDictionary<string, double> RelativeChange);

    /// <summary>Test accuracy, mean cross-entropy and mean probability of the predicted class.</summary>
    public sealed record Fit(double Accuracy, double CrossEntropy, double Confidence);

    [GeneratedRegex(@"^blocks\.\d+\.")]
    private static partial Regex BlockPrefix();

    /// <summary>The tensor kind of a parameter name: its name without the block index ("attn.qkv.weight").</summary>
    public static string Kind(string name) => BlockPrefix().Replace(name, "");

    public static Fit Measure(VisionTransformer model, ImageDataset test, Normalization normalization, Device device)
    {
        using var scope = NewDisposeScope();
        var logits = Evaluation.Logits(model, test, normalization, device);
        var labels = test.Labels.to(device);
        double accuracy = logits.argmax(1).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        double ce = F.cross_entropy(logits, labels).item<float>();
        double confidence = logits.softmax(1).max(1).values.mean().item<float>();
        return new Fit(accuracy, ce, confidence);
    }

    /// <summary>Root mean square of every tensor kind, over all layers that have it.</summary>
    public static Dictionary<string, double> Rms(VisionTransformer model)
    {
        using var noGrad = no_grad();
        return model.Weights().GroupBy(kv => Kind(kv.Key)).ToDictionary(g => g.Key, g =>
        {
            double sum = 0, count = 0;
            foreach (var (_, w) in g)
            {
                using var sq = w.square().sum();
                sum += sq.item<float>();
                count += w.numel();
            }
            return Math.Sqrt(sum / count);
        });
    }

    /// <summary>||W_after - W_before|| / ||W_before|| per tensor kind (over all layers that have it).</summary>
    public static Dictionary<string, double> RelativeChange(IReadOnlyDictionary<string, Tensor> before, VisionTransformer after)
    {
        using var noGrad = no_grad();
        return after.Weights().GroupBy(kv => Kind(kv.Key)).ToDictionary(g => g.Key, g =>
        {
            double change = 0, size = 0;
            foreach (var (name, w) in g)
            {
                using var d = (w - before[name]).square().sum();
                using var n = before[name].square().sum();
                change += d.item<float>();
                size += n.item<float>();
            }
            return size > 0 ? Math.Sqrt(change / size) : double.NaN;
        });
    }

    /// <summary>Measures every subject, then trains each one with a schedule for <paramref name="steps"/> steps of it and measures again.</summary>
    public static IReadOnlyList<Measured> Run(IReadOnlyList<Subject> subjects, TrainingData data, Device device, int steps, long seed,
        IProgress<StepReport>? progress = null, CancellationToken cancellation = default)
    {
        var results = new List<Measured>();
        foreach (var s in subjects)
        {
            var atInit = Measure(s.Model, data.Test, data.Normalization, device);
            var rms = Rms(s.Model);
            if (s.Schedule is null)
            {
                results.Add(new Measured(s.Name, s.Model.Spec, atInit, null, 0, rms, new Dictionary<string, double>()));
                continue;
            }
            var before = s.Model.Weights().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            try
            {
                // The method's real schedule (warm-up and decay over its whole budget), stopped after the first steps.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
                Finetuning.Train(s.Model, data.Train, data.Normalization, device, s.Schedule, seed, s.Augmentation, progress, stop.Token, s.Name,
                    afterStep: step => { if (step >= steps) stop.Cancel(); });
                cancellation.ThrowIfCancellationRequested();
                var after = Measure(s.Model, data.Test, data.Normalization, device);
                results.Add(new Measured(s.Name, s.Model.Spec, atInit, after, steps, rms, RelativeChange(before, s.Model)));
            }
            finally
            {
                foreach (var t in before.Values) t.Dispose();
            }
        }
        return results;
    }

    public static string ToMarkdown(IReadOnlyList<Measured> results, string title)
    {
        var sb = new StringBuilder();
        string P(double x) => (100 * x).ToString("F2", CultureInfo.InvariantCulture);
        string N(double x) => double.IsFinite(x) ? x.ToString("0.0000", CultureInfo.InvariantCulture) : "—";
        sb.Append(CultureInfo.InvariantCulture, $"# {title}\n\n");
        sb.Append("| model | size | accuracy | cross-entropy | confidence | after steps | accuracy | cross-entropy | confidence |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in results)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Spec.Describe()} | {P(r.AtInit.Accuracy)} | {N(r.AtInit.CrossEntropy)} | {N(r.AtInit.Confidence)} | ");
            sb.Append(r.AfterSteps is { } a
                ? string.Create(CultureInfo.InvariantCulture, $"{r.Steps} | {P(a.Accuracy)} | {N(a.CrossEntropy)} | {N(a.Confidence)} |\n")
                : "— | — | — | — |\n");
        }
        var kinds = results.SelectMany(r => r.Rms.Keys).Distinct().OrderBy(KindOrder).ToList();
        sb.Append("\nRMS of each tensor kind (over all layers) at initialisation:\n\n| tensor |");
        foreach (var r in results) sb.Append(CultureInfo.InvariantCulture, $" {r.Name} |");
        sb.Append('\n').Append(string.Concat(Enumerable.Repeat("|---", results.Count + 1))).Append("|\n");
        foreach (var k in kinds)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {k} |");
            foreach (var r in results) sb.Append(' ').Append(r.Rms.TryGetValue(k, out var v) ? N(v) : "—").Append(" |");
            sb.Append('\n');
        }
        var trained = results.Where(r => r.AfterSteps is not null).ToList();
        if (trained.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nRelative change ||W_t - W_0|| / ||W_0|| of each tensor kind after the first stage-3 steps:\n\n| tensor |");
            foreach (var r in trained) sb.Append(CultureInfo.InvariantCulture, $" {r.Name} ({r.Steps} steps) |");
            sb.Append('\n').Append(string.Concat(Enumerable.Repeat("|---", trained.Count + 1))).Append("|\n");
            foreach (var k in kinds)
            {
                sb.Append(CultureInfo.InvariantCulture, $"| {k} |");
                foreach (var r in trained) sb.Append(' ').Append(r.RelativeChange.TryGetValue(k, out var v) ? N(v) : "—").Append(" |");
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }

    // timm's order: embeddings, then a block's tensors in order, then the final norm and head.
    static int KindOrder(string kind)
    {
        int i = Array.IndexOf(VitLayout.BlockSuffixes, kind);
        if (i >= 0) return 10 + i;
        return kind switch
        {
            "cls_token" => 0, "pos_embed" => 1, "patch_embed.proj.weight" => 2, "patch_embed.proj.bias" => 3,
            "norm.weight" or "fc_norm.weight" => 30, "norm.bias" or "fc_norm.bias" => 31, "head.weight" => 32, _ => 33,
        };
    }
}
