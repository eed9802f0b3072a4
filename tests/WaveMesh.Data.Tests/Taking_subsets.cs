using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data.Tests;

public sealed class Taking_subsets
{
    private static long[] Indices(ImageDataset data)
    {
        using var scope = torch.NewDisposeScope();
        var values = data.Images.to_type(ScalarType.Int64).flatten(1);
        long[] low = values[TensorIndex.Colon, 0].data<long>().ToArray();
        long[] high = values[TensorIndex.Colon, 1].data<long>().ToArray();
        return low.Zip(high, (l, h) => l + 256 * h).ToArray();
    }

    [Fact]
    public void The_same_seed_selects_the_same_subset()
    {
        using var data = Datasets.Indexed(1000);
        using var first = data.Subset(100, seed: 42);
        using var second = data.Subset(100, seed: 42);

        Assert.Equal(100, first.Count);
        Assert.Equal(Indices(first), Indices(second));
        Assert.True(first.Labels.SameAs(second.Labels));
    }

    [Fact]
    public void A_subset_has_no_duplicates_and_keeps_labels_with_images()
    {
        using var data = Datasets.Indexed(1000);
        using var subset = data.Subset(300, seed: 1);

        long[] indices = Indices(subset);

        Assert.Equal(300, indices.Distinct().Count());
        Assert.All(indices, i => Assert.InRange(i, 0, 999));
        Assert.Equal(indices.Order(), indices);                       // kept in dataset order
        Assert.Equal(indices.Select(i => i % 10), subset.Labels.data<long>().ToArray());
        Assert.Equal((1, 2, 2, 10), (subset.Channels, subset.Height, subset.Width, subset.Classes));
    }

    [Fact]
    public void Different_seeds_select_different_subsets()
    {
        using var data = Datasets.Indexed(1000);
        using var a = data.Subset(50, seed: 1);
        using var b = data.Subset(50, seed: 2);

        Assert.NotEqual(Indices(a), Indices(b));
    }

    [Fact]
    public void A_count_of_at_least_the_size_returns_a_copy_of_everything()
    {
        using var data = Datasets.Indexed(30);
        using var all = data.Subset(30, seed: 9);
        using var more = data.Subset(500, seed: 9);

        Assert.Equal(30, all.Count);
        Assert.Equal(30, more.Count);
        Assert.True(all.Images.SameAs(data.Images));
        Assert.True(more.Labels.SameAs(data.Labels));
        // A copy: changing it leaves the original alone.
        all.Images[0, 0, 0, 0] = torch.tensor((byte)200);
        Assert.Equal(0, data.Images[0, 0, 0, 0].item<byte>());
    }

    [Fact]
    public void Take_gathers_the_requested_samples_in_order()
    {
        using var data = Datasets.Indexed(20);
        using var taken = data.Take([5, 2, 5, 19]);

        Assert.Equal(new long[] { 5, 2, 5, 19 }, Indices(taken));
        Assert.Equal(new long[] { 5, 2, 5, 9 }, taken.Labels.data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Take([20]));
    }

    [Fact]
    public void A_subset_outlives_the_callers_dispose_scope()
    {
        using var data = Datasets.Indexed(100);
        ImageDataset subset;
        using (torch.NewDisposeScope())
        {
            subset = data.Subset(10, seed: 3);
        }
        using (subset)
        {
            Assert.False(subset.Images.IsInvalid);
            Assert.Equal(10, Indices(subset).Distinct().Count());
        }
    }

    [Fact]
    public void Channel_statistics_are_exact_for_known_pixels()
    {
        // Channel 0: all 51 (0.2, std 0). Channel 1: half 0, half 255 (mean 0.5, std 0.5).
        byte[] pixels = [51, 51, 0, 255, 51, 51, 255, 0];
        using var data = new ImageDataset("known", torch.tensor(pixels, [2, 2, 1, 2], ScalarType.Byte), torch.tensor(new long[] { 0, 1 }), 2);

        var (mean, std) = data.ChannelStatistics();

        Assert.Equal(0.2f, mean[0], 1e-6f);
        Assert.Equal(0f, std[0], 1e-6f);
        Assert.Equal(0.5f, mean[1], 1e-6f);
        Assert.Equal(0.5f, std[1], 1e-6f);
    }

    [Fact]
    public void The_dataset_rejects_labels_outside_its_classes()
    {
        var images = torch.zeros([2, 1, 2, 2], ScalarType.Byte);
        var labels = torch.tensor(new long[] { 0, 3 });

        var error = Assert.Throws<ArgumentException>(() => new ImageDataset("bad", images, labels, classes: 3));

        Assert.Contains("[0, 3]", error.Message);
        images.Dispose();
        labels.Dispose();
    }
}
