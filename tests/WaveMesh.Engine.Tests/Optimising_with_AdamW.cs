using TorchSharp.Modules;
using WaveMesh.Engine.Training;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Optimising_with_AdamW
{
    [Fact]
    public void Updates_parameters_exactly_as_TorchSharps_AdamW_with_decoupled_weight_decay()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        // Two parameters in the first group, each with its own moments and the group's decay.
        var a1 = new Parameter(randn(4, 5)); var c1 = new Parameter(randn(2, 3)); var b1 = new Parameter(randn(5));
        var a2 = new Parameter(a1.detach().clone()); var c2 = new Parameter(c1.detach().clone()); var b2 = new Parameter(b1.detach().clone());
        using var ours = new Training.AdamW([new ParameterGroup([a1, c1], 0.05), new ParameterGroup([b1], 0)]);
        using var reference = optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup([a2, c2], new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0.05 }),
            new TorchSharp.Modules.AdamW.ParamGroup([b2], new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0 })], 0.01);
        var target = randn(4, 5);
        for (int step = 0; step < 6; step++)
        {
            ours.ZeroGrad();
            ((a1 * b1 - target).pow(2).sum() + c1.pow(3).sum()).backward();
            ours.Step(0.01);
            reference.zero_grad();
            ((a2 * b2 - target).pow(2).sum() + c2.pow(3).sum()).backward();
            reference.step();
        }
        Assert.True(a1.allclose(a2, 1e-5, 1e-6), "matrix parameters diverged");
        Assert.True(c1.allclose(c2, 1e-5, 1e-6), "the group's second parameter diverged");
        Assert.True(b1.allclose(b2, 1e-5, 1e-6), "vector parameters diverged");
        Assert.False(a1.allclose(target, 1e-3, 1e-3));
    }

    [Fact]
    public void A_parameter_without_a_gradient_is_skipped_and_the_rest_of_its_group_matches_TorchSharp()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        var used1 = new Parameter(randn(3, 4)); var unused1 = new Parameter(randn(6));
        var used2 = new Parameter(used1.detach().clone()); var unused2 = new Parameter(unused1.detach().clone());
        var untouched = unused1.detach().clone();
        using var ours = new Training.AdamW([new ParameterGroup([used1, unused1], 0.05)]);
        using var reference = optim.AdamW([used2, unused2], 0.01, weight_decay: 0.05);
        var target = randn(3, 4);
        for (int step = 0; step < 4; step++)
        {
            ours.ZeroGrad();
            (used1 - target).pow(2).sum().backward();
            ours.Step(0.01);
            reference.zero_grad();
            (used2 - target).pow(2).sum().backward();
            reference.step();
        }
        Assert.True(used1.allclose(used2, 1e-5, 1e-6), "the parameter with a gradient diverged from TorchSharp's AdamW");
        Assert.True(unused1.eq(untouched).all().item<bool>(), "a parameter without a gradient was changed (decayed or stepped)");
        Assert.False(used1.allclose(target, 1e-3, 1e-3));
    }

    [Fact]
    public void Clipping_scales_all_gradients_to_the_asked_joint_norm()
    {
        using var scope = NewDisposeScope();
        var p = new Parameter(zeros(3));
        var q = new Parameter(zeros(4));
        p.grad = full(3, 3.0f);
        q.grad = full(4, 4.0f);
        double before = Trainer.ClipGradNorm([p, q], 1.0);
        Assert.Equal(Math.Sqrt(27 + 64), before, 4);
        double after = Math.Sqrt(p.grad!.pow(2).sum().item<float>() + q.grad!.pow(2).sum().item<float>());
        Assert.Equal(1.0, after, 4);
    }
}
