using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WaveMesh.Engine.Vit;

/// <summary>
/// The ViT forward pass written once over weights looked up by timm name, so that a plain model and a
/// templated model (whose weights are composed from templates each step) run exactly the same code.
/// </summary>
public static class VitForward
{
    const double LayerNormEps = 1e-6;

    /// <remarks>
    /// Without a gradient (evaluation, a teacher's logits) each block runs in its own dispose scope and only its output
    /// leaves it, so a block's temporaries are freed before the next block runs instead of piling up until the
    /// caller's scope ends (all six blocks of the L6 D128 teacher at batch 500 held 0.6 GB). Training keeps them until
    /// its step ends: autograd holds most of them for the backward pass anyway, and freeing the rest block by block
    /// made the training loops 6-8% slower (the throughput loops, three runs each way).
    /// </remarks>
    public static Tensor Logits(VitSpec s, Func<string, Tensor> w, Tensor images)
    {
        Func<Func<Tensor>, Tensor> run = is_grad_enabled() ? part => part() : Scoped;
        var x = run(() => Embed(s, w, images));
        for (int l = 0; l < s.Depth; l++)
        {
            var input = x;
            x = run(() => Block(s, w, l, input));
        }
        return run(() => Head(s, w, x));
    }

    static Tensor Scoped(Func<Tensor> part)
    {
        using var scope = NewDisposeScope();
        return part().MoveToOuterDisposeScope();
    }

    /// <summary>Patch embedding (a stride-p convolution written as one matmul), class token and position embedding.</summary>
    public static Tensor Embed(VitSpec s, Func<string, Tensor> w, Tensor images)
    {
        long b = images.shape[0], g = s.GridSize, p = s.PatchSize;
        // [B, C, g, p, g, p] -> [B, g, g, C, p, p]: each patch flattened in the conv weight's (C, p, p) order.
        var patches = images.reshape(b, s.Channels, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, s.PatchDim);
        var x = F.linear(patches, w("patch_embed.proj.weight").reshape(s.Width, s.PatchDim), w("patch_embed.proj.bias"));
        if (s.Pooling == Pooling.Token)
            x = cat([w("cls_token").expand(b, -1, -1), x], 1);
        return x + w("pos_embed");
    }

    public static Tensor Block(VitSpec s, Func<string, Tensor> w, int l, Tensor x)
    {
        string P(string suffix) => VitLayout.Block(l, suffix);
        long[] d = [s.Width];
        var h = F.layer_norm(x, d, w(P("norm1.weight")), w(P("norm1.bias")), LayerNormEps);
        x = x + Attention(s, h, w(P("attn.qkv.weight")), w(P("attn.qkv.bias")), w(P("attn.proj.weight")), w(P("attn.proj.bias")));
        h = F.layer_norm(x, d, w(P("norm2.weight")), w(P("norm2.bias")), LayerNormEps);
        h = F.gelu(F.linear(h, w(P("mlp.fc1.weight")), w(P("mlp.fc1.bias"))));
        return x + F.linear(h, w(P("mlp.fc2.weight")), w(P("mlp.fc2.bias")));
    }

    // softmax(Q K^T / sqrt(d_h)) V, written out: about 10% faster than scaled_dot_product_attention for training at these sizes.
    static Tensor Attention(VitSpec s, Tensor x, Tensor qkvW, Tensor qkvB, Tensor projW, Tensor projB)
    {
        long b = x.shape[0], n = x.shape[1];
        var qkv = F.linear(x, qkvW, qkvB).reshape(b, n, 3, s.Heads, s.HeadDim).permute(2, 0, 3, 1, 4);
        // Scalars are disposed here, not left to the finalizer thread (see Training/AdamW.cs for why that matters).
        using var scale = (1.0 / Math.Sqrt(s.HeadDim)).ToScalar();
        var q = qkv[0].mul(scale);
        var attn = q.matmul(qkv[1].transpose(-2, -1)).softmax(-1);
        var o = attn.matmul(qkv[2]).transpose(1, 2).reshape(b, n, s.Width);
        return F.linear(o, projW, projB);
    }

    /// <summary>Final LayerNorm and pooling (LayerNorm is per token, so normalising only the class token is exact), then the head.</summary>
    public static Tensor Head(VitSpec s, Func<string, Tensor> w, Tensor x)
    {
        long[] d = [s.Width];
        Tensor pooled = s.Pooling == Pooling.Token
            ? F.layer_norm(x[TensorIndex.Colon, 0], d, w("norm.weight"), w("norm.bias"), LayerNormEps)
            : F.layer_norm(x.mean([1]), d, w("fc_norm.weight"), w("fc_norm.bias"), LayerNormEps);
        return F.linear(pooled, w("head.weight"), w("head.bias"));
    }
}
