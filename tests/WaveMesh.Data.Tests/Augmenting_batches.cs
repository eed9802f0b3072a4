using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data.Tests;

public sealed class Augmenting_batches
{
    private const int Side = 6;
    private const int Channels = 2;

    /// <summary>Every sample is the same image whose pixels are all distinct and non-zero: 1 + c*36 + i*6 + j.</summary>
    private static ImageDataset Distinct(int count)
    {
        var pixels = new byte[count * Channels * Side * Side];
        for (int n = 0; n < count; n++)
            for (int c = 0; c < Channels; c++)
                for (int i = 0; i < Side; i++)
                    for (int j = 0; j < Side; j++)
                        pixels[((n * Channels + c) * Side + i) * Side + j] = Base(c, i, j);
        var labels = Enumerable.Range(0, count).Select(n => (long)(n % 10)).ToArray();
        return new ImageDataset("distinct", torch.tensor(pixels, [count, Channels, Side, Side], ScalarType.Byte), torch.tensor(labels, [count], ScalarType.Int64), 10);
    }

    private static byte Base(int c, int i, int j) => (byte)(1 + c * 36 + i * 6 + j);

    /// <summary>What the transform (dy, dx, flip) must produce at (c, i, j): 0 where it reads the padding.</summary>
    private static int Expected(int c, int i, int j, int dy, int dx, bool flip)
    {
        int row = i + dy - 2;
        int col = (flip ? Side - 1 - j : j) + dx - 2;
        return row is >= 0 and < Side && col is >= 0 and < Side ? Base(c, row, col) : 0;
    }

    private static BatchLoader Loader(ImageDataset data, long seed, int batchSize = 16) =>
        new(data, batchSize, shuffle: true, seed, Normalization.None(Channels), torch.CPU, augmentation: Augmentation.RandomCropFlip);

    private static List<Tensor> Collect(BatchLoader loader, int epoch)
    {
        var inputs = new List<Tensor>();
        foreach (var (x, y) in loader.Epoch(epoch))
        {
            y.Dispose();
            inputs.Add(x);
        }
        return inputs;
    }

    [Fact]
    public void Keeps_shapes_and_dtypes()
    {
        using var data = Distinct(40);
        using var scope = torch.NewDisposeScope();

        var batches = Collect(Loader(data, seed: 1), 0);

        Assert.Equal([16L, 16L, 8L], batches.Select(b => b.shape[0]));
        Assert.All(batches, b => Assert.Equal(new long[] { Channels, Side, Side }, b.shape[1..]));
        Assert.All(batches, b => Assert.Equal(ScalarType.Float32, b.dtype));
    }

    [Fact]
    public void Is_deterministic_for_a_fixed_seed()
    {
        using var data = Distinct(40);
        using var scope = torch.NewDisposeScope();

        var first = Collect(Loader(data, seed: 5), 2);
        var second = Collect(Loader(data, seed: 5), 2);
        torch.manual_seed(999);   // torch's global RNG must not matter
        var third = Collect(Loader(data, seed: 5), 2);

        Assert.Equal(first.Count, second.Count);
        for (int b = 0; b < first.Count; b++)
        {
            Assert.True(first[b].SameAs(second[b]));
            Assert.True(first[b].SameAs(third[b]));
        }
    }

    [Fact]
    public void Differs_between_seeds_and_epochs()
    {
        using var data = Distinct(32);
        using var scope = torch.NewDisposeScope();

        var reference = Collect(Loader(data, seed: 5), 0);
        var otherSeed = Collect(Loader(data, seed: 6), 0);
        var otherEpoch = Collect(Loader(data, seed: 5), 1);

        // All samples are identical images, so any difference comes from the augmentation itself.
        Assert.False(reference[0].SameAs(otherSeed[0]));
        Assert.False(reference[0].SameAs(otherEpoch[0]));
        Assert.False(reference[0].SameAs(reference[1]));
    }

    [Fact]
    public void Every_output_is_a_shifted_and_maybe_flipped_copy_of_its_input()
    {
        using var data = Distinct(64);
        using var scope = torch.NewDisposeScope();
        var seen = new HashSet<(int Dy, int Dx, bool Flip)>();

        foreach (var batch in Collect(Loader(data, seed: 3, batchSize: 32), 0).Concat(Collect(Loader(data, seed: 3, batchSize: 32), 1)))
        {
            float[] values = batch.data<float>().ToArray();
            int count = (int)batch.shape[0];
            for (int n = 0; n < count; n++)
            {
                var pixels = values.AsSpan(n * Channels * Side * Side, Channels * Side * Side).ToArray().Select(v => (int)Math.Round(v * 255)).ToArray();
                var matches = Transforms().Where(t => Matches(pixels, t)).ToList();
                // Pixels are distinct, so exactly one transform explains the output (same one for both channels).
                Assert.Single(matches);
                seen.Add(matches[0]);
            }
        }

        // 128 samples: flips, both shift directions and the identity position all occur.
        Assert.Contains(seen, t => t.Flip);
        Assert.Contains(seen, t => !t.Flip);
        Assert.Contains(seen, t => t.Dy == 0 && t.Dx == 4);
        Assert.Contains(seen, t => t.Dy == 4 || t.Dx == 0);
        Assert.True(seen.Count > 20, $"only {seen.Count} distinct transforms in 128 samples");
    }

    private static IEnumerable<(int Dy, int Dx, bool Flip)> Transforms()
    {
        for (int dy = 0; dy <= 4; dy++)
            for (int dx = 0; dx <= 4; dx++)
                foreach (bool flip in new[] { false, true })
                    yield return (dy, dx, flip);
    }

    private static bool Matches(int[] pixels, (int Dy, int Dx, bool Flip) t)
    {
        for (int c = 0; c < Channels; c++)
            for (int i = 0; i < Side; i++)
                for (int j = 0; j < Side; j++)
                    if (pixels[(c * Side + i) * Side + j] != Expected(c, i, j, t.Dy, t.Dx, t.Flip))
                        return false;
        return true;
    }

    [Fact]
    public void Keeps_labels_with_their_samples()
    {
        using var data = Datasets.Indexed(90, side: 4);
        var plain = new BatchLoader(data, 30, shuffle: true, seed: 8, Normalization.None(1), torch.CPU);
        var augmented = new BatchLoader(data, 30, shuffle: true, seed: 8, Normalization.None(1), torch.CPU, augmentation: Augmentation.RandomCropFlip);
        using var scope = torch.NewDisposeScope();

        var plainLabels = plain.Epoch(0).SelectMany(b => b.Labels.data<long>().ToArray()).ToArray();
        var augmentedLabels = augmented.Epoch(0).SelectMany(b => b.Labels.data<long>().ToArray()).ToArray();

        Assert.Equal(plain.Order(0).Select(n => n % 10), augmentedLabels);
        Assert.Equal(plainLabels, augmentedLabels);
    }
}
