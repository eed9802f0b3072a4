using WaveMesh.Engine.Baselines;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Selecting_weights_from_a_larger_teacher
{
    [Theory]
    [InlineData(8, 4, 1, new long[] { 0, 2, 4, 6 })]
    [InlineData(10, 4, 1, new long[] { 0, 3, 6, 9 })]
    [InlineData(6, 4, 2, new long[] { 0, 2, 3, 5 })]
    [InlineData(9, 6, 3, new long[] { 0, 2, 3, 5, 6, 8 })]
    [InlineData(5, 5, 1, new long[] { 0, 1, 2, 3, 4 })]
    public void Picks_evenly_spaced_indices_within_each_section(long length, long count, int groups, long[] expected) =>
        Assert.Equal(expected, WeightSelection.Indices(length, count, groups));

    [Fact]
    public void Copies_the_first_blocks_and_selected_rows_and_columns()
    {
        using var scope = NewDisposeScope();
        var teacher = VisionTransformer.Create(Tiny.Family.WithSize(4, 64, 4), seed: 1);
        var target = Tiny.Family.WithSize(2, 32, 2);
        var student = WeightSelection.Select(teacher, target);
        var t = teacher.Weights();
        var s = student.Weights();
        // fc1 [128, 64] -> [64, 32]: rows 0,2,4..., columns 0,2,4...
        Assert.True(s["blocks.1.mlp.fc1.weight"].Same(t["blocks.1.mlp.fc1.weight"][TensorIndex.Slice(0, null, 2), TensorIndex.Slice(0, null, 2)]));
        // qkv rows are chosen inside each of q, k and v: row 32 of the student is row 64 of the teacher (the start of k).
        Assert.True(s["blocks.0.attn.qkv.weight"][32].Same(t["blocks.0.attn.qkv.weight"][64][TensorIndex.Slice(0, null, 2)]));
        Assert.True(s["head.bias"].Same(t["head.bias"]));
    }

    [Fact]
    public void Refuses_a_target_larger_than_the_teacher()
    {
        var teacher = VisionTransformer.Create(Tiny.Family.WithSize(2, 32, 2), seed: 1);
        var e = Assert.Throws<SpecException>(() => WeightSelection.Select(teacher, Tiny.Family.WithSize(3, 48, 3)));
        Assert.Contains("depth 3 exceeds the teacher's 2", e.Message);
        Assert.Contains("width 48 exceeds the teacher's 32", e.Message);
    }
}

public sealed class Initialising_and_scheduling
{
    [Fact]
    public void Truncated_normal_has_the_asked_spread_and_respects_its_bounds()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(1, CPU);
        var x = TruncatedNormal.Fill(zeros(200, 200), 0.02, g);
        Assert.InRange(x.std().item<float>(), 0.0195, 0.0205);
        Assert.InRange(x.mean().item<float>(), -0.001, 0.001);
        var wide = TruncatedNormal.Fill(zeros(10000), 1.0, g, -2, 2);
        Assert.True(wide.abs().max().item<float>() <= 2f);
        Assert.InRange(wide.std().item<float>(), 0.85, 0.90);   // std of N(0,1) truncated at +-2 is 0.88
    }

    [Fact]
    public void Timm_init_draws_linears_at_std_0_02_and_sets_norms_to_one_and_zero()
    {
        using var scope = NewDisposeScope();
        var w = VisionTransformer.TimmInit(Tiny.Family.WithSize(2, 64, 4), seed: 1);
        Assert.InRange(w["blocks.0.mlp.fc1.weight"].std().item<float>(), 0.019, 0.021);
        Assert.True(w["blocks.1.norm1.weight"].Same(ones(64)));
        Assert.True(w["blocks.1.attn.proj.bias"].Same(zeros(64)));
        Assert.True(w["cls_token"].abs().max().item<float>() < 1e-4);
    }

    [Fact]
    public void The_same_seed_gives_the_same_model_and_another_seed_another()
    {
        using var scope = NewDisposeScope();
        var a = VisionTransformer.TimmInit(Tiny.Family, seed: 7);
        var b = VisionTransformer.TimmInit(Tiny.Family, seed: 7);
        var c = VisionTransformer.TimmInit(Tiny.Family, seed: 8);
        Assert.All(a.Keys, k => Assert.True(a[k].Same(b[k]), k));
        Assert.False(a["blocks.0.attn.qkv.weight"].Same(c["blocks.0.attn.qkv.weight"]));
    }

    [Fact]
    public void The_schedule_warms_up_linearly_then_decays_by_cosine_to_its_floor()
    {
        var s = new TrainSchedule { Steps = 101, LearningRate = 1.0, WarmupFraction = 0.1, MinLearningRateFraction = 0.01 };
        Assert.Equal(0.1, s.At(0), 9);
        Assert.Equal(1.0, s.At(9), 9);
        Assert.Equal(1.0, s.At(10), 9);
        Assert.Equal(0.01 + 0.99 * 0.5, s.At(55), 9);
        Assert.Equal(0.01, s.At(100), 9);
    }

    [Fact]
    public void Distillation_loss_is_cross_entropy_when_student_and_teacher_agree_and_grows_with_disagreement()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var logits = randn(8, 10);
        var labels = randint(0, 10, [8]);
        var same = Losses.Distillation(logits, logits, labels, temperature: 2.0).item<float>();
        Assert.Equal(Losses.CrossEntropy(logits, labels).item<float>(), same, 5);
        var other = Losses.Distillation(logits, randn(8, 10), labels, temperature: 2.0).item<float>();
        Assert.True(other > same);
        // Against an explicit KL: sum_c p_t (log p_t - log p_s), averaged over the batch, times tau^2.
        var t = randn(8, 10);
        double tau = 3;
        var pt = (t / tau).softmax(1);
        var kl = (pt * ((t / tau).log_softmax(1) - (logits / tau).log_softmax(1))).sum(1).mean().item<float>() * tau * tau;
        var expected = kl + Losses.CrossEntropy(logits, labels).item<float>();
        Assert.Equal(expected, Losses.Distillation(logits, t, labels, tau).item<float>(), 4);
    }
}

public sealed class Perturbing_an_initialised_model
{
    [Fact]
    public void Adds_noise_relative_to_each_matrix_rms_and_leaves_vectors_and_embeddings_alone()
    {
        using var scope = NewDisposeScope();
        var spec = Tiny.Family.WithSize(2, 64, 2);
        var model = VisionTransformer.Create(spec, seed: 3);
        var before = model.Weights().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

        int perturbed = Perturbation.Apply(model, 0.1, seed: 7);

        var after = model.Weights();
        Assert.Equal(before.Count(kv => kv.Value.dim() >= 2 && !kv.Key.EndsWith("pos_embed") && !kv.Key.EndsWith("cls_token")), perturbed);
        foreach (var (name, w) in after)
        {
            var change = (w - before[name]).square().mean().sqrt().item<float>();
            var rms = before[name].square().mean().sqrt().item<float>();
            if (w.dim() < 2 || name.EndsWith("pos_embed") || name.EndsWith("cls_token"))
                Assert.True(change == 0, $"{name} changed by {change}");
            else
                // The noise's RMS is 0.1 of the matrix's (sampling error of a few percent for these sizes).
                Assert.InRange(change / rms, 0.08, 0.12);
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_noise_and_scale_zero_changes_nothing()
    {
        using var scope = NewDisposeScope();
        var spec = Tiny.Family.WithSize(1, 32, 2);
        var a = VisionTransformer.Create(spec, seed: 1);
        var b = VisionTransformer.Create(spec, seed: 1);
        var c = VisionTransformer.Create(spec, seed: 1);
        Perturbation.Apply(a, 0.2, seed: 5);
        Perturbation.Apply(b, 0.2, seed: 5);
        Assert.Equal(0, Perturbation.Apply(c, 0, seed: 5));
        var (wa, wb, wc) = (a.Weights(), b.Weights(), c.Weights());
        var fresh = VisionTransformer.Create(spec, seed: 1).Weights();
        foreach (var name in wa.Keys)
        {
            Assert.True(wa[name].allclose(wb[name], 0, 0), $"{name} differs between two runs with one seed");
            Assert.True(wc[name].allclose(fresh[name], 0, 0), $"{name} changed at scale 0");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Perturbation.Apply(a, -1, seed: 5));
    }
}
