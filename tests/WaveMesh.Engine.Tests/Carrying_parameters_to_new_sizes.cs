using WaveMesh.Data;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Carrying_parameters_to_new_sizes
{
    static readonly TemplateConfig AsScalers = Tiny.Templates with
    {
        Carry = new CarryConfig { Vectors = Carry.Scalers, PosEmbed = Carry.Scalers, ClsToken = Carry.Scalers, PatchEmbed = Carry.Scalers, Head = Carry.Scalers },
    };

    static readonly TemplateConfig Shared = Tiny.Templates with
    {
        Carry = new CarryConfig { Vectors = Carry.Shared, PosEmbed = Carry.Shared, ClsToken = Carry.Shared, PatchEmbed = Carry.Shared, Head = Carry.Templated },
    };

    [Fact]
    public void A_parameter_carried_as_it_is_has_no_templates_and_the_size_holds_it_in_its_own_shape()
    {
        using var scope = NewDisposeScope();
        var target = Tiny.Family.WithSize(3, 48, 3);
        var templateLayout = TemplateSet.Layout(Tiny.Family, AsScalers);
        Assert.Equal(["blocks.attn.proj.weight", "blocks.attn.qkv.weight", "blocks.mlp.fc1.weight", "blocks.mlp.fc2.weight", "head.bias"],
            templateLayout.Keys.Order(StringComparer.Ordinal));
        var scalerLayout = ScalerSet.Layout(target, AsScalers);
        Assert.Equal(new long[] { 3, 144 }, scalerLayout["blocks.attn.qkv.bias"]);
        Assert.Equal(new long[] { 3, 48 }, scalerLayout["blocks.norm1.weight"]);
        Assert.Equal(new long[] { 1, 17, 48 }, scalerLayout["pos_embed"]);
        Assert.Equal(new long[] { 48, 1, 7, 7 }, scalerLayout["patch_embed.proj.weight"]);
        Assert.Equal(new long[] { 10, 48 }, scalerLayout["head.weight"]);
    }

    [Fact]
    public void Random_scalers_start_carried_parameters_at_timms_initialisation()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, AsScalers, seed: 1);
        var scalers = ScalerSet.Random(Tiny.Family.WithSize(3, 48, 3), templates, seed: 2).Tensors();
        Assert.True(scalers["blocks.norm2.weight"].Same(ones(3, 48)));
        Assert.True(scalers["blocks.mlp.fc1.bias"].Same(zeros(3, 96)));
        Assert.InRange(scalers["pos_embed"].std().item<float>(), 0.012, 0.025);
    }

    [Fact]
    public void A_model_whose_parameters_are_carried_as_they_are_materialises_to_the_same_logits()
    {
        using var scope = NewDisposeScope();
        var target = Tiny.Family.WithSize(2, 48, 3);
        var templates = TemplateSet.Create(Tiny.Family, AsScalers, seed: 3);
        var scalers = ScalerSet.Random(target, templates, seed: 4);
        using (no_grad()) foreach (var p in scalers.parameters()) p.add_(randn_like(p) * 0.05);
        var templated = new TemplatedVit(templates, scalers);
        var composed = templated.Compose();
        Assert.True(composed["blocks.1.norm1.bias"].Same(scalers.Tensors()["blocks.norm1.bias"][1]));
        var plain = templated.Materialize();
        var x = randn(4, 1, 28, 28);
        using var noGrad = no_grad();
        var a = templated.forward(x);
        var b = plain.forward(x);
        Assert.True(a.allclose(b, 1e-5, 1e-5), $"max difference {(a - b).abs().max().item<float>()}");
    }

    // Composition is linear in the scalers, block by block, so resizing the blocks of a templated kind's scalers and
    // resizing the blocks of the parameter it composes must give the same parameter. Carrying a parameter as it is
    // must therefore resize it exactly as its templated form would be resized.
    [Theory]
    [InlineData(2, 48, 3)]
    [InlineData(4, 16, 1)]
    [InlineData(3, 64, 4)]
    public void A_carried_parameter_is_resized_exactly_as_its_templated_form(int depth, int width, int heads)
    {
        using var scope = NewDisposeScope();
        var family = Tiny.Family.WithSize(2, 32, 2);
        var target = family.WithSize(depth, width, heads);
        var templates = TemplateSet.Create(family, Tiny.Templates, seed: 5);
        using (no_grad()) foreach (var p in templates.parameters()) p.add_(randn_like(p) * 0.05);
        var aux = ScalerSet.Random(family, templates, seed: 6);
        var composedAux = new TemplatedVit(templates, aux).Compose();
        var expected = new TemplatedVit(templates, ScalerSet.Resized(aux, target, templates)).Compose();

        // The same auxiliary model with every non-matrix parameter carried as it is (values taken from the composed model).
        var directTemplates = TemplateSet.FromTensors(family, AsScalers,
            templates.Tensors().Where(kv => TemplateSet.Layout(family, AsScalers).ContainsKey(kv.Key)).ToDictionary());
        var directAux = ScalerSet.FromTensors(family, AsScalers, ScalerSet.Layout(family, AsScalers).ToDictionary(kv => kv.Key, kv =>
        {
            var kind = TemplateKinds.For(family, AsScalers.Carry).FirstOrDefault(k => k.Key == kv.Key);
            if (kind is null || kind.IsTemplated) return aux.Tensors()[kv.Key];
            return kind.PerLayer
                ? stack(Enumerable.Range(0, family.Depth).Select(l => composedAux[VitLayout.Block(l, kind.Name)]).ToArray())
                : composedAux[kind.Name];
        }));
        var actual = new TemplatedVit(directTemplates, ScalerSet.Resized(directAux, target, directTemplates)).Compose();

        foreach (var (name, value) in expected)
            Assert.True(actual[name].allclose(value, 1e-5, 1e-6), $"{name}: max difference {(actual[name] - value).abs().max().item<float>()}");
    }

    [Fact]
    public void Nearest_depth_mapping_copies_whole_layers()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, AsScalers, seed: 2);
        var aux = ScalerSet.Random(Tiny.Family, templates, seed: 3);   // depth 2
        using (no_grad())
        {
            var n1 = aux.Tensors()["blocks.norm1.weight"];
            n1[0].fill_(0f);
            n1[1].fill_(3f);
        }
        var deeper = ScalerSet.Resized(aux, Tiny.Family.WithSize(5, 32, 2), templates, DepthMapping.Nearest).Tensors()["blocks.norm1.weight"];
        float[] expected = [0f, 0f, 3f, 3f, 3f];   // round(l * 1/4) with halves rounded up
        for (int l = 0; l < 5; l++)
            Assert.True(deeper[l].Same(full_like(deeper[l], expected[l])), $"layer {l}: {deeper[l][0].item<float>()}");
    }

    [Fact]
    public void Stage_2_trains_what_a_size_owns_and_leaves_shared_parameters_as_they_were()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(1, CPU);
        var data = new ImageDataset("random", randint(0, 256, [64, 1, 28, 28], generator: g).to(ScalarType.Byte), randint(0, 10, [64], generator: g), 10);
        var teacher = VisionTransformer.Create(Tiny.Family, seed: 1);
        var templates = TemplateSet.Create(Tiny.Family, Shared, seed: 2);
        var initial = ScalerSet.Random(Tiny.Family.WithSize(3, 48, 3), templates, seed: 3);
        var before = initial.Tensors().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var options = new DistillOptions { Schedule = new TrainSchedule { Steps = 3, BatchSize = 16, LearningRate = 1e-2, WeightDecay = 0 } };

        var (scalers, _) = ScalerTraining.TrainScalers(teacher, templates, initial.Target, initial, data, new Normalization([0.5f], [0.25f]), CPU, options);

        foreach (var kind in scalers.Kinds)
        {
            bool same = scalers.Tensors()[kind.Key].Same(before[kind.Key]);
            if (kind.Carry == Carry.Shared) Assert.True(same, $"shared '{kind.Key}' changed in stage 2");
            else Assert.False(same, $"'{kind.Key}' did not train in stage 2");
        }
        Assert.All(scalers.parameters(), p => Assert.True(p.requires_grad, "every scaler is trainable again after stage 2"));
    }

    [Fact]
    public void Learning_rate_scales_group_the_parameters_and_a_zero_scale_freezes_its_group()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var aux = ScalerSet.Random(Tiny.Family, templates, seed: 2);
        var scales = new LearningRateScales { Templates = 1, Scalers = 4, Vectors = 0, Embeddings = 2 };

        var groups = WaveParameters.ForDistillation(templates, aux, scales, weightDecay: 0.05);

        var named = templates.named_parameters().Select(p => ("templates " + p.name, p.parameter))
            .Concat(aux.named_parameters().Select(p => ("scalers " + p.name, p.parameter))).ToList();
        string Name(TorchSharp.Modules.Parameter p) => named.Single(n => ReferenceEquals(n.parameter, p)).Item1;
        var byName = groups.SelectMany(gr => gr.Parameters.Select(p => (Name(p), gr.LearningRateScale, gr.WeightDecay))).ToDictionary(x => x.Item1);
        Assert.Equal((1.0, 0.05), (byName["templates blocks.attn.qkv.weight"].LearningRateScale, byName["templates blocks.attn.qkv.weight"].WeightDecay));
        Assert.Equal((4.0, 0.0), (byName["scalers blocks.mlp.fc2.weight"].LearningRateScale, byName["scalers blocks.mlp.fc2.weight"].WeightDecay));
        Assert.Equal((2.0, 0.05), (byName["templates pos_embed"].LearningRateScale, byName["templates pos_embed"].WeightDecay));
        Assert.Equal(2.0, byName["scalers head.weight"].LearningRateScale);
        Assert.DoesNotContain(byName.Keys, k => k.Contains("norm1") || k.EndsWith(".bias"));
    }

    [Fact]
    public void The_templates_file_records_how_each_parameter_is_carried()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        var path = Path.Combine(dir, "templates.safetensors");
        WaveFiles.SaveTemplates(TemplateSet.Create(Tiny.Family, Shared, seed: 1), path, teacherDigest: null);
        using (var file = WaveMesh.Safetensors.SafetensorsFile.Open(path))
        {
            Assert.Equal("vectors=shared,pos_embed=shared,cls_token=shared,patch_embed=shared,head=templated", file.Metadata[MetadataKeys.Carry]);
            Assert.Contains("\"carry\":{\"vectors\":\"shared\"", file.Metadata[MetadataKeys.TemplateConfig]);
        }
        var (loaded, info) = WaveFiles.LoadTemplates(path);
        Assert.Equal(Shared, info.Config);
        Assert.Equal(Shared, loaded.Config);
    }

    [Fact]
    public void A_warm_up_given_in_steps_replaces_the_fraction_and_zero_starts_at_the_peak()
    {
        var noWarmup = new TrainSchedule { Steps = 100, LearningRate = 1e-3, WarmupFraction = 0.05, WarmupSteps = 0 };
        Assert.Equal(1e-3, noWarmup.At(0), 12);
        var ten = new TrainSchedule { Steps = 100, LearningRate = 1e-3, WarmupFraction = 0.5, WarmupSteps = 10 };
        Assert.Equal(1e-4, ten.At(0), 12);
        Assert.Equal(1e-3, ten.At(9), 12);
        Assert.True(ten.At(50) < 1e-3);
    }
}
