using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Training_scalers
{
    static ImageDataset RandomImages(int count, long seed)
    {
        var g = new Generator((ulong)seed, CPU);
        var images = randint(0, 256, [count, 1, 28, 28], generator: g).to(ScalarType.Byte);
        var labels = randint(0, 10, [count], generator: g);
        return new ImageDataset("random", images, labels, 10);
    }

    [Fact]
    public void Stage_2_changes_the_scalers_and_never_the_templates()
    {
        using var scope = NewDisposeScope();
        var data = RandomImages(64, 1);
        var norm = new Normalization([0.5f], [0.25f]);
        var (teacher, templates) = TeacherAndTrainedTemplates();
        var target = Tiny.Family.WithSize(3, 48, 3);
        var initial = ScalerSet.Random(target, templates, seed: 3);
        var templatesBefore = templates.Tensors().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var scalersBefore = initial.Tensors().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        var options = new DistillOptions { Schedule = new TrainSchedule { Steps = 4, BatchSize = 16, LearningRate = 1e-2, WeightDecay = 0.05 } };
        var (scalers, result) = ScalerTraining.TrainScalers(teacher, templates, target, initial, data, norm, CPU, options);

        Assert.Equal(4, result.Steps);
        foreach (var (key, before) in templatesBefore)
        {
            Assert.True(templates.Tensors()[key].Same(before), $"template '{key}' changed");
            Assert.True(templates.Tensors()[key].grad is null, $"template '{key}' received a gradient");
        }
        int changed = scalersBefore.Count(kv => !scalers.Tensors()[kv.Key].Same(kv.Value));
        Assert.Equal(scalersBefore.Count, changed);
        Assert.All(templates.parameters(), p => Assert.True(p.requires_grad, "templates are trainable again after stage 2"));
    }

    [Fact]
    public void A_batch_larger_than_the_data_is_refused_rather_than_looping_for_ever()
    {
        var error = Refused(images: 20, batchSize: 32, referenceLogits: null);
        Assert.Contains("no batch of 32", error.Message);
    }

    [Fact]
    public void Resizing_to_the_same_size_keeps_the_scalers()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 2);
        var aux = ScalerSet.Random(Tiny.Family, templates, seed: 3);
        var same = ScalerSet.Resized(aux, Tiny.Family, templates);
        foreach (var (key, value) in aux.Tensors())
            Assert.True(same.Tensors()[key].allclose(value, 1e-6, 1e-6), key);
    }

    [Fact]
    public void Resizing_never_mixes_the_q_k_and_v_sections()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 2);
        var aux = ScalerSet.Random(Tiny.Family, templates, seed: 3);
        using (no_grad())
        {
            var qkv = aux.Tensors()["blocks.attn.qkv.weight"];   // [L, N, 3D/w, D/w] = [2, 4, 6, 2]
            var rows = qkv.shape[2] / 3;
            for (int section = 0; section < 3; section++)
                qkv.narrow(2, section * rows, rows).fill_(section + 1);
        }
        var bigger = ScalerSet.Resized(aux, Tiny.Family.WithSize(5, 80, 5), templates).Tensors()["blocks.attn.qkv.weight"];
        Assert.Equal(new long[] { 5, 4, 15, 5 }, bigger.shape);
        // Fan-in grows from 2 to 5 column blocks: values are scaled by sqrt(2/5), the sections stay apart.
        double scale = Math.Sqrt(2.0 / 5.0);
        for (int section = 0; section < 3; section++)
        {
            var part = bigger.narrow(2, section * 5, 5);
            Assert.True(part.allclose(full_like(part, (section + 1) * scale), 1e-5, 1e-5), $"section {section}");
        }
    }

    [Fact]
    public void Selecting_blocks_composes_to_the_auxiliary_weights_restricted_to_whole_blocks_and_heads()
    {
        using var scope = NewDisposeScope();
        var auxSpec = Tiny.Family.WithSize(2, 64, 4);     // w = 16: four heads of one block each
        var target = Tiny.Family.WithSize(2, 48, 3);
        var templates = TemplateSet.Create(auxSpec, Tiny.Templates, seed: 2);
        var aux = ScalerSet.Random(auxSpec, templates, seed: 3);
        using (no_grad()) foreach (var p in templates.parameters()) p.add_(randn_like(p));   // no template left at zero
        var selected = ScalerSet.Resized(aux, target, templates, width: WidthMapping.Select);
        var from = new TemplatedVit(templates, aux).Compose();
        var to = new TemplatedVit(templates, selected).Compose();

        // Width: blocks 0, 2, 3 of 4 (round(linspace(0, 3, 3)), halves to even), i.e. heads 0, 2 and 3 whole.
        // MLP hidden (ratio 2): blocks 0, 1, 3, 4, 6, 7 of 8. qkv: the width's blocks within each of q, k and v.
        long[] Channels(long[] blocks, long offset = 0) => blocks.SelectMany(b => Enumerable.Range(0, 16).Select(j => offset + b * 16 + j)).ToArray();
        long[] width = Channels([0, 2, 3]), hidden = Channels([0, 1, 3, 4, 6, 7]);
        long[] qkv = [.. Channels([0, 2, 3]), .. Channels([0, 2, 3], 64), .. Channels([0, 2, 3], 128)];
        var byLength = new Dictionary<long, long[]> { [64] = width, [128] = hidden, [192] = qkv };
        foreach (var (name, value) in to)
        {
            var expected = from[name];
            for (int axis = 0; axis < expected.dim(); axis++)
                if (expected.shape[axis] != value.shape[axis])
                    expected = expected.index_select(axis, tensor(byLength[expected.shape[axis]]));
            Assert.True(value.allclose(expected, 1e-5, 1e-5), $"{name}: max difference {(value - expected).abs().max().item<float>()}");
        }
        Assert.Contains("blocks.1.attn.qkv.weight", to.Keys);
    }

    [Fact]
    public void Resizing_over_depth_interpolates_between_layers()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 2);
        var aux = ScalerSet.Random(Tiny.Family, templates, seed: 3);   // depth 2
        using (no_grad())
        {
            var n1 = aux.Tensors()["blocks.norm1.weight"];
            n1[0].fill_(0f);
            n1[1].fill_(3f);
        }
        var deeper = ScalerSet.Resized(aux, Tiny.Family.WithSize(4, 32, 2), templates).Tensors()["blocks.norm1.weight"];
        float[] expected = [0f, 1f, 2f, 3f];
        for (int l = 0; l < 4; l++)
            Assert.True(deeper[l].allclose(full_like(deeper[l], expected[l]), 1e-5, 1e-5), $"layer {l}");
    }

    [Fact]
    public void Given_reference_logits_train_exactly_as_the_reference_computed_in_place_would()
    {
        using var scope = NewDisposeScope();
        var data = RandomImages(48, 1);
        var norm = new Normalization([0.5f], [0.25f]);
        var (teacher, templates) = TeacherAndTrainedTemplates();
        var target = Tiny.Family.WithSize(2, 32, 2);
        var options = new DistillOptions { Schedule = new TrainSchedule { Steps = 5, BatchSize = 16, LearningRate = 1e-2, WeightDecay = 0 }, Seed = 4 };

        var (computed, _) = ScalerTraining.TrainScalers(teacher, templates, target, ScalerSet.Random(target, templates, seed: 3), data, norm, CPU, options);
        var logits = Evaluation.Logits(teacher, data, norm, CPU);
        var (given, _) = ScalerTraining.TrainScalers(teacher, templates, target, ScalerSet.Random(target, templates, seed: 3), data, norm, CPU, options,
            referenceLogits: logits);
        foreach (var (key, value) in computed.Tensors())
            Assert.True(given.Tensors()[key].Same(value), $"scalers '{key}' differ when the reference's logits are given");

        // Logits that steer elsewhere (a uniform teacher) must change the result: the given tensor is what is imitated.
        var (uniform, _) = ScalerTraining.TrainScalers(teacher, templates, target, ScalerSet.Random(target, templates, seed: 3), data, norm, CPU, options,
            referenceLogits: zeros_like(logits));
        Assert.Contains(computed.Tensors(), kv => !uniform.Tensors()[kv.Key].Same(kv.Value));
    }

    [Fact]
    public void Reference_logits_without_one_row_per_image_are_refused()
    {
        using var scope = NewDisposeScope();
        var error = Refused(images: 32, batchSize: 16, referenceLogits: zeros(31, 10));
        Assert.Contains("one row for each of the 32 training images", error.Message);
    }

    /// <summary>A tiny teacher and templates moved off their initialisation, as distilled ones are.</summary>
    static (VisionTransformer Teacher, TemplateSet Templates) TeacherAndTrainedTemplates()
    {
        var teacher = VisionTransformer.Create(Tiny.Family, seed: 1);
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 2);
        // Distilled vector templates are not zero; fresh ones are, and would give their scalers no gradient.
        using (no_grad()) foreach (var p in templates.parameters()) p.add_(randn_like(p) * 0.05);
        return (teacher, templates);
    }

    /// <summary>The error of stage 2 on a tiny model and <paramref name="images"/> random images, which must refuse to train.</summary>
    static ArgumentException Refused(int images, int batchSize, Tensor? referenceLogits)
    {
        using var scope = NewDisposeScope();
        var data = RandomImages(images, 1);
        var teacher = VisionTransformer.Create(Tiny.Family, seed: 1);
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 2);
        var initial = ScalerSet.Random(Tiny.Family, templates, seed: 3);
        var options = new DistillOptions { Schedule = new TrainSchedule { Steps = 3, BatchSize = batchSize, LearningRate = 1e-2 } };
        return Assert.Throws<ArgumentException>(() => ScalerTraining.TrainScalers(teacher, templates, Tiny.Family, initial, data,
            new Normalization([0.5f], [0.25f]), CPU, options, referenceLogits: referenceLogits));
    }
}
