using System.Diagnostics;
using TorchSharp;
using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Benchmarks;

/// <summary>One part of a training step: milliseconds per step and its share of the parts measured together.</summary>
public sealed record ProfileRow(string Part, double MillisecondsPerStep, double Share);

/// <summary>
/// Where a training step's time goes. libtorch's CPU kernels run synchronously on the calling thread, so a stopwatch
/// around each call measures that call. Two views: the phases of real steps (batch, forward, backward, optimiser) and
/// every operation of the forward pass timed alone, forward and backward, at the model's shapes, multiplied by how
/// often one step runs it. The operations' sum beside the phases' forward + backward shows what the breakdown misses
/// (autograd bookkeeping, reshapes, the loss).
/// </summary>
public static class StepProfile
{
    /// <summary>The phases of <paramref name="steps"/> training steps of a plain ViT (the stage-3 loop), after one warm-up step.</summary>
    public static IReadOnlyList<ProfileRow> Phases(VitSpec spec, BatchLoader loader, Device device, int steps = 40) =>
        PhasesOf(VisionTransformer.Create(spec, 0, device), m => Trainer.DecayGroups(m, 0.05), loader, steps, composition: null);

    /// <summary>The same for a templated model (the stage-1 loop), with the composition of its weights timed on its own.</summary>
    public static IReadOnlyList<ProfileRow> TemplatedPhases(VitSpec spec, TemplateConfig config, BatchLoader loader, Device device, int steps = 40)
    {
        using var templates = TemplateSet.Create(spec, config, 0, device);
        using var scalers = ScalerSet.Random(spec, templates, 1);
        var model = new TemplatedVit(templates, scalers);
        return PhasesOf(model, m => [new ParameterGroup(m.Parameters().ToList(), 0.05)], loader, steps, () => model.Compose());
    }

    static IReadOnlyList<ProfileRow> PhasesOf<M>(M model, Func<M, IReadOnlyList<ParameterGroup>> groups, BatchLoader loader, int steps,
        Func<Dictionary<string, Tensor>>? composition) where M : nn.Module<Tensor, Tensor>
    {
        using var owned = model;
        using var optimizer = new AdamW(groups(model));
        model.train();
        var time = new Dictionary<string, double>();
        void Add(string part, Stopwatch clock, bool counted)
        {
            if (counted) time[part] = time.GetValueOrDefault(part) + clock.Elapsed.TotalMilliseconds;
            clock.Restart();
        }
        int step = 0;
        using var batches = loader.Epoch(0).GetEnumerator();
        var clock = Stopwatch.StartNew();
        while (step <= steps)
        {
            bool counted = step > 0;   // the first step pays for allocation
            clock.Restart();
            if (!batches.MoveNext()) throw new InvalidOperationException("the profile needs more batches than one epoch holds");
            using var batch = batches.Current;
            Add("batch (gather, normalise)", clock, counted);
            using (NewDisposeScope())
            {
                optimizer.ZeroGrad();
                if (composition is not null)
                {
                    // Composition alone, forward and backward, as the step does it once more inside forward.
                    var w = composition();
                    var sum = w.Values.Select(t => t.sum()).Aggregate((a, b) => a + b);
                    Add("composition forward (templates x scalers)", clock, counted);
                    sum.backward();
                    optimizer.ZeroGrad();
                    Add("composition backward", clock, counted);
                }
                var logits = model.forward(batch.Inputs);
                Add("forward", clock, counted);
                var loss = Losses.CrossEntropy(logits, batch.Labels);
                Add("loss", clock, counted);
                loss.backward();
                Add("backward", clock, counted);
                optimizer.Step(1e-4);
                Add("optimiser (AdamW)", clock, counted);
                _ = loss.item<float>();
            }
            Add("scope disposal", clock, counted);
            step++;
        }
        return Rows(time, steps);
    }

    /// <summary>
    /// Every operation of one training step's forward, run alone at the shapes of <paramref name="spec"/> with batch
    /// <paramref name="batch"/>, forward and backward (the gradient of every input that needs one), times how often a
    /// step runs it. Milliseconds per step.
    /// </summary>
    /// <remarks>
    /// With <paramref name="flushCaches"/>, 64 MB are written before the forward and again before the backward (untimed),
    /// so that each call finds its inputs and saved tensors out of the CPU caches, as in a training step, where the
    /// backward of a layer comes after the whole forward.
    /// </remarks>
    public static IReadOnlyList<ProfileRow> Operations(VitSpec spec, int batch, Device device, int repeats = 20, bool flushCaches = false)
    {
        long b = batch, n = spec.Tokens, d = spec.Width, h = spec.Heads, hd = spec.HeadDim, hidden = spec.Hidden;
        int depth = spec.Depth;
        var time = new Dictionary<string, double>();
        using var flush = flushCaches ? zeros(16L << 20, device: device) : null;
        void Time(string part, int perStep, Func<Tensor[]> inputs, Func<Tensor[], Tensor> op) =>
            time[part] = time.GetValueOrDefault(part) + perStep * Milliseconds(inputs, op, repeats, flush);
        Tensor Leaf(params long[] shape) => randn(shape, device: device).requires_grad_(true);

        Time("linear qkv (d -> 3d)", depth, () => [Leaf(b, n, d), Leaf(3 * d, d), Leaf(3 * d)], x => F.linear(x[0], x[1], x[2]));
        Time("linear proj (d -> d)", depth, () => [Leaf(b, n, d), Leaf(d, d), Leaf(d)], x => F.linear(x[0], x[1], x[2]));
        Time("linear fc1 (d -> 4d)", depth, () => [Leaf(b, n, d), Leaf(hidden, d), Leaf(hidden)], x => F.linear(x[0], x[1], x[2]));
        Time("linear fc2 (4d -> d)", depth, () => [Leaf(b, n, hidden), Leaf(d, hidden), Leaf(d)], x => F.linear(x[0], x[1], x[2]));
        Time("attention core (QK^T, softmax, xV, heads merged)", depth, () => [Leaf(b, n, 3 * d)], x => AttentionCore(x[0], h, hd, fused: false));
        Time("layer norm", 2 * depth + 1, () => [Leaf(b, n, d), Leaf(d), Leaf(d)], x => F.layer_norm(x[0], [d], x[1], x[2], 1e-6));
        Time("GELU", depth, () => [Leaf(b, n, hidden)], x => F.gelu(x[0]));
        Time("residual add", 2 * depth, () => [Leaf(b, n, d), Leaf(b, n, d)], x => x[0] + x[1]);
        Time("patch embedding and head", 1, () => [randn([b, spec.Patches, spec.PatchDim], device: device), Leaf(d, spec.PatchDim), Leaf(d), Leaf(spec.Classes, d)],
            x => F.linear(F.linear(x[0], x[1], x[2]).mean([1]), x[3]));
        return Rows(time, 1);
    }

    /// <summary>The attention core of one step (all layers) written out, as VitForward does, and through libtorch's fused kernel.</summary>
    public static IReadOnlyList<ProfileRow> AttentionVariants(VitSpec spec, int batch, Device device, int repeats = 20)
    {
        long b = batch, n = spec.Tokens, d = spec.Width;
        Tensor[] Input() => [randn([b, n, 3 * d], device: device).requires_grad_(true)];
        var rows = new Dictionary<string, double>
        {
            ["written out (VitForward)"] = spec.Depth * Milliseconds(Input, x => AttentionCore(x[0], spec.Heads, spec.HeadDim, fused: false), repeats),
            ["scaled_dot_product_attention"] = spec.Depth * Milliseconds(Input, x => AttentionCore(x[0], spec.Heads, spec.HeadDim, fused: true), repeats),
        };
        return Rows(rows, 1);
    }

    static Tensor AttentionCore(Tensor qkvOut, long heads, long headDim, bool fused)
    {
        long b = qkvOut.shape[0], n = qkvOut.shape[1];
        var qkv = qkvOut.reshape(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4);
        Tensor o;
        if (fused) o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
        else
        {
            using var scale = (1.0 / Math.Sqrt(headDim)).ToScalar();
            o = qkv[0].mul(scale).matmul(qkv[1].transpose(-2, -1)).softmax(-1).matmul(qkv[2]);
        }
        return o.transpose(1, 2).reshape(b, n, heads * headDim);
    }

    /// <summary>
    /// Mean milliseconds of <paramref name="op"/> forward and backward over <paramref name="repeats"/> runs after a first
    /// that allocates; with <paramref name="flush"/>, that buffer is rewritten (untimed) before the forward and the backward.
    /// </summary>
    static double Milliseconds(Func<Tensor[]> inputs, Func<Tensor[], Tensor> op, int repeats, Tensor? flush = null)
    {
        double ms = 0;
        for (int r = 0; r <= repeats; r++)
        {
            using var scope = NewDisposeScope();
            var x = inputs();
            var grad = randn_like(op(x).detach());
            flush?.add_(1);
            var clock = Stopwatch.StartNew();
            var y = op(x);
            double forward = clock.Elapsed.TotalMilliseconds;
            flush?.add_(1);
            clock.Restart();
            y.backward([grad]);
            if (r > 0) ms += forward + clock.Elapsed.TotalMilliseconds;
        }
        return ms / repeats;
    }

    public const string MarkdownFileName = "profile.md";

    /// <summary>
    /// The profile of the throughput phase's plain L6 D128 H4 (stage 3) and templated L4 D128 H4 (stage 1) loops at
    /// batch 128, as Markdown.
    /// </summary>
    public static string Report(ImageDataset train, Normalization normalization, Device device, double peak)
    {
        var (plain, aux, _) = Throughput.Models(train);
        var loader = new BatchLoader(train, 128, shuffle: true, seed: 0, normalization, device, dropLast: true);
        var md = new System.Text.StringBuilder();
        md.AppendLine("# Where a training step's time goes");
        md.AppendLine();
        md.AppendLine($"Written by the throughput phase of `./wavemesh bench` (`PHASES=throughput benchmarks/run.sh`), batch 128, " +
                      $"{train.Height}x{train.Width} images, patch {plain.PatchSize}; matmul peak of the same run {peak:F0} GFLOP/s. " +
                      "Milliseconds per step, measured with a stopwatch around each call (libtorch's CPU kernels are synchronous).");
        Table(md, $"Phases of the stage-3 loop ({plain.Describe()}, plain ViT, AdamW), 40 steps", Phases(plain, loader, device));
        Table(md, $"Phases of the stage-1 loop ({aux.Describe()}, templated, default template counts), 40 steps; the composition is timed " +
                  "once more on its own before each step's forward, which composes again", TemplatedPhases(aux, new TemplateConfig(), loader, device));
        Table(md, $"Operations of one {plain.Describe()} step run alone, forward and backward, times how often a step runs each",
            Operations(plain, 128, device));
        Table(md, $"The same operations with the CPU caches flushed (64 MB rewritten, untimed) before each forward and each backward",
            Operations(plain, 128, device, flushCaches: true));
        Table(md, $"The attention core of one {plain.Describe()} step (all layers, forward and backward) written out and fused",
            AttentionVariants(plain, 128, device));
        return md.ToString();
    }

    static void Table(System.Text.StringBuilder md, string title, IReadOnlyList<ProfileRow> rows)
    {
        md.AppendLine();
        md.AppendLine($"## {title}");
        md.AppendLine();
        md.AppendLine("| part | ms per step | share |");
        md.AppendLine("|---|---:|---:|");
        foreach (var r in rows.OrderByDescending(r => r.MillisecondsPerStep))
            md.AppendLine($"| {r.Part} | {r.MillisecondsPerStep:F1} | {r.Share:P0} |");
        md.AppendLine($"| total | {rows.Sum(r => r.MillisecondsPerStep):F1} | |");
    }

    static IReadOnlyList<ProfileRow> Rows(Dictionary<string, double> totalMs, int steps)
    {
        double sum = totalMs.Values.Sum();
        return totalMs.Select(kv => new ProfileRow(kv.Key, kv.Value / steps, kv.Value / sum)).ToList();
    }
}
