using static TorchSharp.torch;

namespace WaveMesh.Engine.Wave;

/// <summary>The Kronecker rule of WAVE: a weight is tiled from templates weighted by scalers.</summary>
public static class Kronecker
{
    /// <summary>
    /// W = sum_t S_t (x) T_t. Scalers [..., N, p, q] and templates [N, a, b] give weights [..., p*a, q*b]:
    /// block (i, j) of W, of size a x b, is sum_t S[t, i, j] * T[t]. Leading dimensions (layers) are batched.
    /// </summary>
    public static Tensor Compose(Tensor scalers, Tensor templates)
    {
        long n = templates.shape[0], a = templates.shape[1], b = templates.shape[2];
        long p = scalers.shape[^2], q = scalers.shape[^1];
        var lead = scalers.shape[..^3];
        // One matmul over the template axis: [..., p, q, N] x [N, a*b] -> [..., p, q, a, b], then interleave the block axes.
        var s = scalers.movedim([-3L], [-1L]);
        var blocks = s.matmul(templates.reshape(n, a * b)).reshape([.. lead, p, q, a, b]);
        int r = lead.Length;
        return blocks.movedim([r + 2L], [r + 1L]).reshape([.. lead, p * a, q * b]);
    }
}
