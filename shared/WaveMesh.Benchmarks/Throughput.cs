using System.Diagnostics;
using TorchSharp;
using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using WaveMesh.Reporting;
using static TorchSharp.torch;

namespace WaveMesh.Benchmarks;

/// <summary>
/// Speed of the training loops, as examples per second and as a fraction of the matrix-multiply peak measured just
/// before and just after each loop (a ratio, so it means the same on a busier or quieter machine, and measured beside
/// each loop because this machine's speed drifts within minutes).
/// </summary>
public static class Throughput
{
    /// <summary>fp32 GFLOP/s of repeated n x n matrix products: the ceiling the training loops are compared with.</summary>
    public static double MatmulPeak(int n = 512, double seconds = 3)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        for (int i = 0; i < 5; i++) a.matmul(b).Dispose();
        var clock = Stopwatch.StartNew();
        long count = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 20; i++) a.matmul(b).Dispose();
            count += 20;
        }
        return 2.0 * n * n * n * count / clock.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>The models the loops are measured on (the profile uses the same): the plain ViT of stage 3, the auxiliary model of stage 1, the target of stage 2.</summary>
    public static (VitSpec Plain, VitSpec Aux, VitSpec Target) Models(ImageDataset train)
    {
        var family = new VitSpec { ImageSize = train.Height, Channels = train.Channels, Classes = train.Classes };
        return (family.WithSize(6, 128, 4), family.WithSize(4, 128, 4), family.WithSize(6, 160, 5));
    }

    /// <summary>The stage-3 loop (plain ViT), the stage-1 loop (templated auxiliary model) and the stage-2 loop (templated target).</summary>
    public static IReadOnlyList<ThroughputRow> Loops(ImageDataset train, Normalization normalization, Device device, int steps = 60)
    {
        var (plain, aux, target) = Models(train);
        var config = new TemplateConfig();
        var rows = new List<ThroughputRow>();
        var schedule = new TrainSchedule { Steps = steps, LearningRate = 1e-4 };
        var loader = new BatchLoader(train, schedule.BatchSize, shuffle: true, seed: 0, normalization, device, dropLast: true);
        BatchLoss ce = (logits, labels, _, _) => Losses.CrossEntropy(logits, labels);

        // Each loop runs between two 2-second peak measurements and is rated against their mean; the measurement after
        // one loop is the one before the next (nothing but the next model's creation runs between them).
        double edge = MatmulPeak(seconds: 2);
        ThroughputRow Row(string loop, VitSpec spec, Func<TrainResult> run)
        {
            double before = edge;
            var r = run();
            edge = MatmulPeak(seconds: 2);
            double peak = (before + edge) / 2;
            double gflops = r.ExamplesPerSecond * VitFlops.Training(spec) / 1e9;
            return new ThroughputRow(loop, spec.Describe(), r.ExamplesPerSecond, gflops, gflops / peak, peak);
        }

        rows.Add(Row("reference: a plain TorchSharp ViT (nn modules, TorchSharp AdamW)", plain, () => Reference(plain, loader, device, steps)));

        var vit = VisionTransformer.Create(plain, 0, device);
        rows.Add(Row("stage 3 (plain ViT, AdamW)", plain, () => Trainer.Run("plain", vit, Trainer.DecayGroups(vit, 0.05), loader, schedule, ce)));

        var templates = TemplateSet.Create(aux, config, 0, device);
        var auxModel = new TemplatedVit(templates, ScalerSet.Random(aux, templates, 1));
        rows.Add(Row("stage 1 (templated auxiliary model, templates + scalers)", aux,
            () => Trainer.Run("stage1", auxModel, [new ParameterGroup(auxModel.Parameters().ToList(), 0.05)], loader, schedule, ce)));

        var scalers = ScalerSet.Random(target, templates, 2);
        foreach (var p in templates.parameters()) p.requires_grad = false;
        var targetModel = new TemplatedVit(templates, scalers);
        rows.Add(Row("stage 2 (templated target, scalers only)", target,
            () => Trainer.Run("stage2", targetModel, [new ParameterGroup(scalers.parameters().ToList(), 0)], loader, schedule, ce)));
        return rows;
    }

    /// <summary>The baseline loop: the quick module-based ViT with TorchSharp's own AdamW, on the same batches.</summary>
    static TrainResult Reference(VitSpec s, BatchLoader loader, Device device, int steps)
    {
        using var model = new ReferenceVit(s.Channels, s.ImageSize, s.PatchSize, s.Depth, s.Width, s.Heads, s.Classes);
        model.to(device);
        using var optimizer = optim.AdamW(model.parameters(), 1e-4, weight_decay: 0.05);
        var clock = Stopwatch.StartNew();
        double warm = 0;
        long examples = 0;
        int step = 0;
        foreach (var batch in loader.Epoch(0))
        {
            using var owned = batch;
            using (NewDisposeScope())
            {
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(batch.Inputs), batch.Labels).backward();
                optimizer.step();
            }
            if (++step == 1) warm = clock.Elapsed.TotalSeconds; else examples += batch.Count;
            if (step >= steps) break;
        }
        return new TrainResult(step, double.NaN, examples / Math.Max(1e-9, clock.Elapsed.TotalSeconds - warm), clock.Elapsed, false);
    }

}
