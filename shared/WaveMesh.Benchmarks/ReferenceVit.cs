using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WaveMesh.Benchmarks;

/// <summary>
/// A ViT written the quick, ordinary TorchSharp way (nn modules, a stride-p convolution, TorchSharp's AdamW): the
/// baseline the engine's training loop is measured against in the throughput benchmark. Not used for training.
/// </summary>
sealed class ReferenceVit : nn.Module<Tensor, Tensor>
{
    sealed class Block : nn.Module<Tensor, Tensor>
    {
        readonly LayerNorm norm1, norm2;
        readonly Linear qkv, proj, fc1, fc2;
        readonly int heads;

        public Block(int width, int heads, int hidden) : base("block")
        {
            this.heads = heads;
            norm1 = nn.LayerNorm(width, 1e-6);
            norm2 = nn.LayerNorm(width, 1e-6);
            qkv = nn.Linear(width, 3 * width);
            proj = nn.Linear(width, width);
            fc1 = nn.Linear(width, hidden);
            fc2 = nn.Linear(hidden, width);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            long b = x.shape[0], n = x.shape[1], d = x.shape[2];
            var h = qkv.forward(norm1.forward(x)).reshape(b, n, 3, heads, d / heads).permute(2, 0, 3, 1, 4);
            var attn = (h[0].matmul(h[1].transpose(-2, -1)) / Math.Sqrt(d / heads)).softmax(-1);
            x = x + proj.forward(attn.matmul(h[2]).transpose(1, 2).reshape(b, n, d));
            return x + fc2.forward(nn.functional.gelu(fc1.forward(norm2.forward(x))));
        }
    }

    readonly Conv2d patch;
    readonly Parameter cls, pos;
    readonly ModuleList<Block> blocks = new();
    readonly LayerNorm norm;
    readonly Linear head;

    public ReferenceVit(int channels, int imageSize, int patchSize, int depth, int width, int heads, int classes) : base("reference_vit")
    {
        patch = nn.Conv2d(channels, width, patchSize, stride: patchSize);
        int tokens = (imageSize / patchSize) * (imageSize / patchSize) + 1;
        cls = new Parameter(zeros(1, 1, width));
        pos = new Parameter(randn(1, tokens, width) * 0.02);
        for (int i = 0; i < depth; i++) blocks.Add(new Block(width, heads, 4 * width));
        norm = nn.LayerNorm(width, 1e-6);
        head = nn.Linear(width, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor images)
    {
        var x = patch.forward(images).flatten(2).transpose(1, 2);
        x = cat([cls.expand(x.shape[0], -1, -1), x], 1) + pos;
        foreach (var block in blocks) x = block.forward(x);
        return head.forward(norm.forward(x[TensorIndex.Colon, 0]));
    }
}
