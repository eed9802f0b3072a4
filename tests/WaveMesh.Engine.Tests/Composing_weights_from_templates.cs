using WaveMesh.Engine.Wave;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Composing_weights_from_templates
{
    [Theory]
    [InlineData(1, 3, 2, 4, 4)]
    [InlineData(3, 2, 5, 3, 2)]
    [InlineData(8, 4, 1, 2, 6)]
    public void Equals_an_explicit_loop_over_blocks(int n, int p, int q, int a, int b)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(n * 100 + p);
        var s = randn(n, p, q);
        var t = randn(n, a, b);
        var w = Kronecker.Compose(s, t);
        Assert.Equal(new long[] { p * a, q * b }, w.shape);
        var sv = s.data<float>().ToArray();
        var tv = t.data<float>().ToArray();
        var wv = w.data<float>().ToArray();
        for (int i = 0; i < p; i++)
        for (int j = 0; j < q; j++)
        for (int alpha = 0; alpha < a; alpha++)
        for (int beta = 0; beta < b; beta++)
        {
            double expected = 0;
            for (int k = 0; k < n; k++)
                expected += sv[(k * p + i) * q + j] * tv[(k * a + alpha) * b + beta];
            Assert.Equal(expected, wv[(i * a + alpha) * (q * b) + j * b + beta], 1e-5 * (1 + Math.Abs(expected)));
        }
    }

    [Fact]
    public void Equals_a_sum_of_kronecker_products()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var s = randn(3, 4, 2);
        var t = randn(3, 5, 5);
        var expected = zeros(20, 10);
        for (int k = 0; k < 3; k++) expected += kron(s[k], t[k]);
        Assert.True(Kronecker.Compose(s, t).allclose(expected, 1e-5, 1e-5));
    }

    [Fact]
    public void Batches_over_layers()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        var s = randn(4, 3, 2, 3);
        var t = randn(3, 8, 8);
        var all = Kronecker.Compose(s, t);
        Assert.Equal(new long[] { 4, 16, 24 }, all.shape);
        for (int l = 0; l < 4; l++)
            Assert.True(all[l].allclose(Kronecker.Compose(s[l], t), 1e-6, 1e-6));
    }

    [Fact]
    public void Reduces_to_TLEG_linear_expansion_with_one_template_per_matrix()
    {
        // w = m and N = 2 with 1x1 scalers fixed to (1, l/L): W_l = A + (l/L) B.
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        const int depth = 5, m = 12;
        var templates = randn(2, m, m);
        var scalers = zeros(depth, 2, 1, 1);
        for (int l = 0; l < depth; l++)
        {
            scalers[l, 0, 0, 0] = 1f;
            scalers[l, 1, 0, 0] = (float)l / depth;
        }
        var w = Kronecker.Compose(scalers, templates);
        for (int l = 0; l < depth; l++)
            Assert.True(w[l].allclose(templates[0] + templates[1] * ((double)l / depth), 1e-6, 1e-6));
    }

    [Fact]
    public void Reduces_to_layer_inheritance_with_one_hot_scalers()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        const int depth = 4, m = 8;
        var templates = randn(depth, m, m);
        var scalers = zeros(depth, depth, 1, 1);
        for (int l = 0; l < depth; l++) scalers[l, l, 0, 0] = 1f;
        var w = Kronecker.Compose(scalers, templates);
        for (int l = 0; l < depth; l++)
            Assert.True(w[l].Same(templates[l]));
    }
}
