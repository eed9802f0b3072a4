using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Building_variable_sized_models
{
    public static TheoryData<int, int, int> Sizes => new()
    {
        { 1, 16, 1 }, { 1, 48, 3 }, { 2, 32, 2 }, { 3, 64, 4 }, { 4, 32, 1 }, { 5, 80, 5 }, { 6, 48, 2 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Every_size_gets_the_layout_of_a_plain_ViT(int depth, int width, int heads)
    {
        using var scope = NewDisposeScope();
        var target = Tiny.Family.WithSize(depth, width, heads);
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var scalers = ScalerSet.Random(target, templates, seed: 2);
        var model = new TemplatedVit(templates, scalers);
        var composed = model.Compose();

        var layout = VitLayout.Of(target);
        Assert.Equal(layout.Select(t => t.Name).Order(), composed.Keys.Order());
        foreach (var t in layout) Assert.Equal(t.Shape, composed[t.Name].shape);

        var logits = model.forward(randn(3, 1, 28, 28));
        Assert.Equal(new long[] { 3, 10 }, logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Template_count_is_independent_of_size_and_scalers_grow_with_it(int depth, int width, int heads)
    {
        using var scope = NewDisposeScope();
        var target = Tiny.Family.WithSize(depth, width, heads);
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var scalers = ScalerSet.Random(target, templates, seed: 2);
        // qkv scalers: N x (3D/w) x (D/w) per layer.
        long w = Tiny.Templates.TemplateSize;
        Assert.Equal(new long[] { depth, Tiny.Templates.MatrixTemplates, 3 * width / w, width / w }, scalers.Tensors()["blocks.attn.qkv.weight"].shape);
        Assert.Equal(new long[] { Tiny.Templates.MatrixTemplates, w, w }, templates.Tensors()["blocks.attn.qkv.weight"].shape);
    }

    [Fact]
    public void A_materialised_model_gives_the_same_logits_as_its_templated_form()
    {
        using var scope = NewDisposeScope();
        var target = Tiny.Family.WithSize(3, 48, 3);
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 3);
        // Non-zero vector templates so that biases and LayerNorm gains take part.
        using (no_grad()) foreach (var p in templates.parameters()) p.add_(randn_like(p) * 0.05);
        var templated = new TemplatedVit(templates, ScalerSet.Random(target, templates, seed: 4));
        var plain = templated.Materialize();
        var x = randn(5, 1, 28, 28);
        using var noGrad = no_grad();
        var a = templated.forward(x);
        var b = plain.forward(x);
        Assert.True(a.allclose(b, 1e-5, 1e-5), $"max difference {(a - b).abs().max().item<float>()}");
        Assert.True(a.std().item<float>() > 1e-3, "logits should depend on the input");
    }

    [Fact]
    public void Layer_norm_gains_start_at_one_and_biases_at_zero()
    {
        using var scope = NewDisposeScope();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 5);
        var w = new TemplatedVit(templates, ScalerSet.Random(Tiny.Family, templates, seed: 6)).Compose();
        Assert.True(w["blocks.1.norm2.weight"].Same(ones(32)));
        Assert.True(w["blocks.0.attn.qkv.bias"].Same(zeros(96)));
        // Matrices composed from std-0.02 templates and N(0, 1/N) scalers come out near std 0.02.
        var std = w["blocks.0.mlp.fc1.weight"].std().item<float>();
        Assert.InRange(std, 0.012, 0.03);
    }

    [Fact]
    public void A_width_that_is_not_a_multiple_of_the_template_size_is_refused_by_name()
    {
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var e = Assert.Throws<SpecException>(() => ScalerSet.Random(Tiny.Family.WithSize(2, 40, 2), templates, 1));
        Assert.Contains("width 40 is not a multiple of the template size 16", e.Message);
    }

    [Fact]
    public void Heads_that_do_not_divide_the_width_are_refused_by_name()
    {
        var e = Assert.Throws<SpecException>(() => Tiny.Family.WithSize(2, 48, 5).Validated());
        Assert.Contains("heads (5) must divide width (48)", e.Message);
    }

    [Fact]
    public void A_target_of_another_family_is_refused()
    {
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var e = Assert.Throws<SpecException>(() => ScalerSet.Random(Tiny.Family with { Classes = 7 }, templates, 1));
        Assert.Contains("family", e.Message);
    }

    [Fact]
    public void Mean_pooling_uses_fc_norm_and_no_class_token()
    {
        using var scope = NewDisposeScope();
        var family = Tiny.Family with { Pooling = Pooling.Mean };
        var names = VitLayout.Of(family).Select(t => t.Name).ToList();
        Assert.Contains("fc_norm.weight", names);
        Assert.DoesNotContain("cls_token", names);
        Assert.DoesNotContain("norm.weight", names);
        Assert.Equal(new long[] { 1, 16, 32 }, VitLayout.Of(family).Single(t => t.Name == "pos_embed").Shape);
        var templates = TemplateSet.Create(family, Tiny.Templates, seed: 1);
        var model = new TemplatedVit(templates, ScalerSet.Random(family.WithSize(1, 16, 1), templates, 2));
        Assert.Equal(new long[] { 2, 10 }, model.forward(randn(2, 1, 28, 28)).shape);
    }

    [Fact]
    public void Weights_with_a_missing_unexpected_or_misshapen_tensor_are_refused_naming_each()
    {
        using var scope = NewDisposeScope();
        var weights = VisionTransformer.TimmInit(Tiny.Family, seed: 1);
        weights.Remove("blocks.1.mlp.fc2.bias");
        weights["blocks.0.attn.qkv.weight"] = zeros(90, 32);
        weights["dist_token"] = zeros(1, 1, 32);
        var e = Assert.Throws<CheckpointMismatchException>(() => new VisionTransformer(Tiny.Family, weights));
        Assert.Contains("missing tensor 'blocks.1.mlp.fc2.bias'", e.Message);
        Assert.Contains("tensor 'blocks.0.attn.qkv.weight' has shape [90, 32], expected [96, 32]", e.Message);
        Assert.Contains("unexpected tensor 'dist_token' [1, 1, 32]", e.Message);
    }
}
