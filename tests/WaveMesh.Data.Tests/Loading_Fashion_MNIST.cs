using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data.Tests;

/// <summary>Both real splits, loaded once for the whole class.</summary>
public sealed class FashionMnistFixture : IDisposable
{
    public FashionMnistFixture()
    {
        Train = FashionMnist.Load(null, train: true);
        Test = FashionMnist.Load(FashionMnist.DefaultRoot, train: false);
    }

    public ImageDataset Train { get; }
    public ImageDataset Test { get; }

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}

public sealed class Loading_Fashion_MNIST(FashionMnistFixture fashion) : IClassFixture<FashionMnistFixture>
{
    private static string RawFile(string name) => Path.Combine(FashionMnist.DefaultRoot, name);

    [Fact]
    public void The_training_set_has_60000_grey_28x28_images_in_10_classes()
    {
        var train = fashion.Train;

        Assert.Equal(60000, train.Count);
        Assert.Equal((1, 28, 28), (train.Channels, train.Height, train.Width));
        Assert.Equal(10, train.Classes);
        Assert.Equal(ScalarType.Byte, train.Images.dtype);
        Assert.Equal(new long[] { 60000, 1, 28, 28 }, train.Images.shape);
        Assert.Equal(ScalarType.Int64, train.Labels.dtype);
        Assert.Equal(new long[] { 60000 }, train.Labels.shape);
    }

    [Fact]
    public void The_test_set_has_10000_grey_28x28_images()
    {
        Assert.Equal(10000, fashion.Test.Count);
        Assert.Equal(new long[] { 10000, 1, 28, 28 }, fashion.Test.Images.shape);
        Assert.Equal(new long[] { 10000 }, fashion.Test.Labels.shape);
    }

    [Fact]
    public void Labels_are_0_to_9_and_every_class_holds_a_tenth_of_each_split()
    {
        using var scope = torch.NewDisposeScope();
        long[] trainCounts = torch.bincount(fashion.Train.Labels).data<long>().ToArray();
        long[] testCounts = torch.bincount(fashion.Test.Labels).data<long>().ToArray();

        Assert.Equal(Enumerable.Repeat(6000L, 10), trainCounts);
        Assert.Equal(Enumerable.Repeat(1000L, 10), testCounts);
        Assert.Equal(0, fashion.Train.Labels.min().item<long>());
        Assert.Equal(9, fashion.Train.Labels.max().item<long>());
    }

    [Fact]
    public void The_first_training_label_is_9_and_the_labels_match_the_raw_file()
    {
        byte[] raw = IdxFile.Gunzip(RawFile("train-labels-idx1-ubyte.gz"));
        Assert.Equal(new byte[] { 0, 0, 8, 1, 0, 0, 0xEA, 0x60 }, raw[..8]);     // ubyte, 1 dim, 60000
        Assert.Equal(9, raw[8]);                                                   // "Ankle boot"

        long[] loaded = fashion.Train.Labels.data<long>().ToArray();

        Assert.Equal(9, loaded[0]);
        Assert.Equal("Ankle boot", FashionMnist.ClassNames[loaded[0]]);
        Assert.Equal(raw[8..].Select(b => (long)b), loaded);
    }

    [Fact]
    public void Training_images_match_the_raw_file_byte_for_byte()
    {
        byte[] raw = IdxFile.Gunzip(RawFile("train-images-idx3-ubyte.gz"));
        Assert.Equal(16 + 60000 * 784, raw.Length);

        using var scope = torch.NewDisposeScope();
        foreach (int n in new[] { 0, 1, 31337, 59999 })
        {
            byte[] image = fashion.Train.Images[n].contiguous().data<byte>().ToArray();
            Assert.Equal(raw.AsSpan(16 + n * 784, 784).ToArray(), image);
        }
    }

    [Fact]
    public void Channel_statistics_match_the_published_values()
    {
        var (mean, std) = fashion.Train.ChannelStatistics();

        Assert.Single(mean);
        Assert.Equal(0.2860, mean[0], 0.0005);
        Assert.Equal(0.3530, std[0], 0.0005);
    }

    [Fact]
    public void Normalized_batches_of_the_test_set_have_mean_0_and_std_1()
    {
        var loader = new BatchLoader(fashion.Test, 1000, shuffle: true, seed: 3, Normalization.FromStatistics(fashion.Test), torch.CPU);
        double sum = 0, sumSquares = 0, count = 0;
        foreach (var (inputs, labels) in loader.Epoch(0))
        {
            using (inputs)
            using (labels)
            {
                using var wide = inputs.to_type(ScalarType.Float64);
                sum += wide.sum().ToDouble();
                sumSquares += wide.square().sum().ToDouble();
                count += inputs.NumberOfElements;
            }
        }
        double mean = sum / count;

        Assert.Equal(10000 * 784, count);
        Assert.Equal(0, mean, 1e-4);
        Assert.Equal(1, Math.Sqrt(sumSquares / count - mean * mean), 1e-4);
    }

    [Fact]
    public void A_missing_folder_gives_a_one_line_message_naming_the_package()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-fashion-mnist-" + Guid.NewGuid().ToString("N"));

        var error = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(missing, train: true));

        Assert.Contains("dataset-fashion-mnist", error.Message);
        Assert.Contains(missing, error.Message);
        Assert.Contains("train-images-idx3-ubyte", error.Message);
        Assert.Contains("--data", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}

/// <summary>The Fashion-MNIST loader on small files written by the test.</summary>
public sealed class Loading_Fashion_MNIST_from_another_folder : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private void WriteSplit(string prefix, byte[] pixels, int count, byte[] labels, bool gzip, int side = 4)
    {
        byte[] images = IdxFile.Bytes([count, side, side], pixels);
        byte[] labelFile = IdxFile.Bytes([labels.Length], labels);
        string suffix = gzip ? ".gz" : "";
        File.WriteAllBytes(_folder.File($"{prefix}-images-idx3-ubyte{suffix}"), gzip ? IdxFile.Gzip(images) : images);
        File.WriteAllBytes(_folder.File($"{prefix}-labels-idx1-ubyte{suffix}"), gzip ? IdxFile.Gzip(labelFile) : labelFile);
    }

    private static byte[] Pixels(int count, int side = 4) => Enumerable.Range(0, count * side * side).Select(i => (byte)(i * 3)).ToArray();

    [Fact]
    public void Loads_uncompressed_files()
    {
        WriteSplit("train", Pixels(3), 3, [4, 0, 9], gzip: false);

        using var data = FashionMnist.Load(_folder.Path, train: true);

        Assert.Equal(new long[] { 3, 1, 4, 4 }, data.Images.shape);
        Assert.Equal(Pixels(3), data.Images.data<byte>().ToArray());
        Assert.Equal(new long[] { 4, 0, 9 }, data.Labels.data<long>().ToArray());
    }

    [Fact]
    public void Loads_gzipped_test_files()
    {
        WriteSplit("t10k", Pixels(2), 2, [1, 2], gzip: true);

        using var data = FashionMnist.Load(_folder.Path, train: false);

        Assert.Equal(2, data.Count);
        Assert.Equal("fashion-mnist/test", data.Name);
        Assert.Equal(new long[] { 1, 2 }, data.Labels.data<long>().ToArray());
    }

    [Fact]
    public void Rejects_an_image_label_count_mismatch()
    {
        WriteSplit("train", Pixels(3), 3, [4, 0], gzip: false);

        var error = Assert.Throws<DatasetFormatException>(() => FashionMnist.Load(_folder.Path, train: true));

        Assert.Contains("3 images", error.Message);
        Assert.Contains("2 labels", error.Message);
    }

    [Fact]
    public void Rejects_a_label_out_of_range()
    {
        WriteSplit("train", Pixels(2), 2, [3, 10], gzip: false);

        var error = Assert.Throws<DatasetFormatException>(() => FashionMnist.Load(_folder.Path, train: true));

        Assert.Contains("label 10 at index 1", error.Message);
    }

    [Fact]
    public void Names_the_missing_labels_file()
    {
        File.WriteAllBytes(_folder.File("train-images-idx3-ubyte"), IdxFile.Bytes([1, 4, 4], Pixels(1)));

        var error = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(_folder.Path, train: true));

        Assert.Contains("missing train-labels-idx1-ubyte", error.Message);
        Assert.Contains(_folder.Path, error.Message);
    }
}
