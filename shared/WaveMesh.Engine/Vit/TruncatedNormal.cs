using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Vit;

/// <summary>
/// timm's trunc_normal_(std, a=-2, b=2): normal draws, those outside [a, b] drawn again. Written here because
/// TorchSharp 0.107's nn.init.trunc_normal_ fills the tensor with a constant.
/// </summary>
public static class TruncatedNormal
{
    public static Tensor Fill(Tensor t, double std, Generator generator, double a = -2, double b = 2)
    {
        using var noGrad = no_grad();
        using var low = a.ToScalar();
        using var high = b.ToScalar();
        t.normal_(0, std, generator);
        for (int round = 0; round < 100; round++)
        {
            using var below = t.lt(low);
            using var above = t.gt(high);
            using var outside = below.logical_or_(above);
            if (!outside.any().item<bool>()) return t;
            using var fresh = empty_like(t).normal_(0, std, generator);
            t.copy_(where(outside, fresh, t));
        }
        return t.clamp_(low, high);
    }
}
