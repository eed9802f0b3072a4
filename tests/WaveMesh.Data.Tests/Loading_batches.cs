using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data.Tests;

public sealed class Loading_batches
{
    private static List<long[]> BatchIndices(BatchLoader loader, int epoch)
    {
        var batches = new List<long[]>();
        foreach (var (inputs, labels) in loader.Epoch(epoch))
        {
            using (inputs)
            using (labels)
            {
                long[] indices = Datasets.DecodeIndices(inputs);
                // Labels travel with their images: label n % 10 for sample n.
                Assert.Equal(indices.Select(n => n % 10), labels.data<long>().ToArray());
                batches.Add(indices);
            }
        }
        return batches;
    }

    private static BatchLoader Loader(ImageDataset data, int batchSize, bool shuffle = true, long seed = 7, bool dropLast = false) =>
        new(data, batchSize, shuffle, seed, Normalization.None(data.Channels), torch.CPU, dropLast);

    [Fact]
    public void Covers_every_sample_exactly_once_per_epoch()
    {
        using var data = Datasets.Indexed(1003);
        var loader = Loader(data, 64);

        var batches = BatchIndices(loader, epoch: 0);

        Assert.Equal(16, loader.BatchesPerEpoch);
        Assert.Equal(16, batches.Count);
        Assert.All(batches.Take(15), b => Assert.Equal(64, b.Length));
        Assert.Equal(1003 - 15 * 64, batches[^1].Length);
        Assert.Equal(Enumerable.Range(0, 1003).Select(i => (long)i), batches.SelectMany(b => b).Order());
    }

    [Fact]
    public void The_same_seed_and_epoch_give_the_same_order()
    {
        using var data = Datasets.Indexed(500);
        var first = Loader(data, 50, seed: 11);
        var second = Loader(data, 50, seed: 11);

        var a = BatchIndices(first, 3).SelectMany(b => b).ToArray();
        var again = BatchIndices(first, 3).SelectMany(b => b).ToArray();
        var b = BatchIndices(second, 3).SelectMany(b => b).ToArray();

        Assert.Equal(a, again);
        Assert.Equal(a, b);
        Assert.Equal(first.Order(3), a);
        Assert.NotEqual(Enumerable.Range(0, 500).Select(i => (long)i), a);
    }

    [Fact]
    public void Different_epochs_and_seeds_give_different_orders()
    {
        using var data = Datasets.Indexed(500);
        var loader = Loader(data, 100, seed: 11);

        var epoch0 = BatchIndices(loader, 0).SelectMany(b => b).ToArray();
        var epoch1 = BatchIndices(loader, 1).SelectMany(b => b).ToArray();
        var otherSeed = BatchIndices(Loader(data, 100, seed: 12), 0).SelectMany(b => b).ToArray();

        Assert.NotEqual(epoch0, epoch1);
        Assert.NotEqual(epoch0, otherSeed);
        Assert.Equal(epoch0.Order(), epoch1.Order());
    }

    [Fact]
    public void Shuffle_orders_are_fixed_by_the_seed_alone()
    {
        // Pins the PRNG: the order must not change with torch's or .NET's random state.
        using var data = Datasets.Indexed(10);
        torch.manual_seed(123);
        long[] before = Loader(data, 4, seed: 2024).Order(5);
        torch.manual_seed(456);
        _ = new Random().Next();
        long[] after = Loader(data, 4, seed: 2024).Order(5);

        Assert.Equal(before, after);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), before.Order());
    }

    [Fact]
    public void Without_shuffle_batches_follow_the_dataset_order()
    {
        using var data = Datasets.Indexed(25);

        var batches = BatchIndices(Loader(data, 10, shuffle: false), epoch: 4);

        Assert.Equal(Enumerable.Range(0, 25).Select(i => (long)i), batches.SelectMany(b => b));
        Assert.Equal([10, 10, 5], batches.Select(b => b.Length));
    }

    [Fact]
    public void Drop_last_skips_the_final_partial_batch()
    {
        using var data = Datasets.Indexed(103);
        var loader = Loader(data, 10, dropLast: true);

        var batches = BatchIndices(loader, 0);

        Assert.Equal(10, loader.BatchesPerEpoch);
        Assert.Equal(10, batches.Count);
        Assert.All(batches, b => Assert.Equal(10, b.Length));
        var seen = batches.SelectMany(b => b).ToArray();
        Assert.Equal(100, seen.Distinct().Count());
        Assert.Equal(loader.Order(0).Take(100), seen);
    }

    [Fact]
    public void Drop_last_keeps_every_batch_when_the_size_divides_the_count()
    {
        using var data = Datasets.Indexed(100);

        var batches = BatchIndices(Loader(data, 20, dropLast: true), 0);

        Assert.Equal(5, batches.Count);
        Assert.Equal(100, batches.SelectMany(b => b).Distinct().Count());
    }

    [Fact]
    public void Batches_have_the_right_shapes_and_dtypes()
    {
        using var data = Datasets.Random(70, channels: 3, side: 5, seed: 1);
        var loader = new BatchLoader(data, 32, shuffle: true, seed: 0, Normalization.FromStatistics(data), torch.CPU);

        var shapes = new List<(long[] Inputs, long[] Labels)>();
        foreach (var (inputs, labels) in loader.Epoch(0))
        {
            using (inputs)
            using (labels)
            {
                Assert.Equal(ScalarType.Float32, inputs.dtype);
                Assert.Equal(ScalarType.Int64, labels.dtype);
                Assert.Equal(DeviceType.CPU, inputs.device_type);
                Assert.Equal(DeviceType.CPU, labels.device_type);
                shapes.Add((inputs.shape, labels.shape));
            }
        }

        Assert.Equal(3, shapes.Count);
        Assert.Equal(new long[] { 32, 3, 5, 5 }, shapes[0].Inputs);
        Assert.Equal(new long[] { 32 }, shapes[0].Labels);
        Assert.Equal(new long[] { 6, 3, 5, 5 }, shapes[2].Inputs);
        Assert.Equal(new long[] { 6 }, shapes[2].Labels);
    }

    [Fact]
    public void Normalization_gives_mean_0_and_std_1_per_channel_over_the_whole_set()
    {
        using var data = Datasets.Random(300, channels: 3, side: 6, seed: 5);
        var normalization = Normalization.FromStatistics(data);
        var loader = new BatchLoader(data, 64, shuffle: true, seed: 9, normalization, torch.CPU);

        var sum = new double[3];
        var sumSquares = new double[3];
        foreach (var (inputs, labels) in loader.Epoch(0))
        {
            using var scope = torch.NewDisposeScope();
            scope.Attach(inputs, labels);
            var wide = inputs.to_type(ScalarType.Float64);
            double[] s = wide.sum([0, 2, 3]).data<double>().ToArray();
            double[] q = wide.square().sum([0, 2, 3]).data<double>().ToArray();
            for (int c = 0; c < 3; c++) { sum[c] += s[c]; sumSquares[c] += q[c]; }
        }

        double count = 300 * 36;
        for (int c = 0; c < 3; c++)
        {
            double mean = sum[c] / count;
            Assert.Equal(0, mean, 1e-5);
            Assert.Equal(1, Math.Sqrt(sumSquares[c] / count - mean * mean), 1e-5);
        }
        // The channels really differ, so per-channel statistics matter.
        Assert.True(Math.Abs(normalization.Mean[0] - normalization.Mean[2]) > 0.1);
        Assert.True(normalization.Std[0] - normalization.Std[2] > 0.1);
    }

    [Fact]
    public void Normalized_values_follow_the_formula()
    {
        using var data = Datasets.Random(8, channels: 2, side: 3, seed: 2);
        var normalization = new Normalization([0.25f, 0.5f], [0.5f, 0.2f]);
        var loader = new BatchLoader(data, 8, shuffle: false, seed: 0, normalization, torch.CPU);

        var (inputs, labels) = loader.Epoch(0).Single();
        using (inputs)
        using (labels)
        {
            float[] actual = inputs.data<float>().ToArray();
            byte[] raw = data.Images.data<byte>().ToArray();
            for (int i = 0; i < raw.Length; i++)
            {
                int channel = i / 9 % 2;
                double expected = (raw[i] / 255.0 - normalization.Mean[channel]) / normalization.Std[channel];
                Assert.Equal(expected, actual[i], 1e-5);
            }
        }
    }

    [Fact]
    public void Rejects_a_normalization_with_the_wrong_channel_count()
    {
        using var data = Datasets.Indexed(4);

        Assert.Throws<ArgumentException>(() => new BatchLoader(data, 2, false, 0, Normalization.None(3), torch.CPU));
        Assert.Throws<ArgumentException>(() => new BatchLoader(data, 2, false, 0, new Normalization([0f], [0f]), torch.CPU));
    }

    [Fact]
    public void Returned_tensors_land_in_the_callers_dispose_scope_and_nothing_else_does()
    {
        using var data = Datasets.Indexed(50);
        var loader = new BatchLoader(data, 8, shuffle: true, seed: 1, Normalization.None(1), torch.CPU, augmentation: Augmentation.RandomCropFlip);

        var returned = new List<Tensor>();
        using (var scope = torch.NewDisposeScope())
        {
            foreach (var (inputs, labels) in loader.Epoch(0))
            {
                returned.Add(inputs);
                returned.Add(labels);
            }
            Assert.Equal(2 * loader.BatchesPerEpoch, scope.DisposablesCount);
            Assert.All(returned, t => Assert.True(scope.Contains(t)));
            Assert.All(returned, t => Assert.False(t.IsInvalid));
        }
        Assert.All(returned, t => Assert.True(t.IsInvalid));
    }
}

[CollectionDefinition(nameof(Counting_live_tensors), DisableParallelization = true)]
public sealed class Counting_live_tensors;

[Collection(nameof(Counting_live_tensors))]
public sealed class Iterating_epochs_without_leaks
{
    [Fact]
    public void Leaves_no_live_tensors_once_the_caller_disposes_the_batches()
    {
        using var data = Datasets.Random(100, channels: 3, side: 8, seed: 4);
        var loader = new BatchLoader(data, 16, shuffle: true, seed: 1, Normalization.FromStatistics(data), torch.CPU,
            augmentation: Augmentation.RandomCropFlip);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;

        int batches = 0;
        foreach (var (inputs, labels) in loader.Epoch(2))
        {
            inputs.Dispose();
            labels.Dispose();
            batches++;
        }

        Assert.Equal(7, batches);
        Assert.Equal(before, Tensor.TotalCount);
    }
}
