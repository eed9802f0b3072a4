namespace WaveMesh.Data.Tests;

public sealed class Loading_CIFAR_10 : IDisposable
{
    private const int Plane = 32 * 32;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Pixel (channel, position) of record k: distinct per record, channel and position.</summary>
    private static byte Pixel(int record, int channel, int position) => (byte)((record * 37 + channel * 85 + position * 7) % 256);

    private static byte Label(int record) => (byte)((record * 3 + 1) % 10);

    /// <summary>Writes records [first, first + count) in the binary CIFAR layout: label, R plane, G plane, B plane.</summary>
    private static byte[] Batch(int first, int count)
    {
        var bytes = new byte[count * 3073];
        for (int r = 0; r < count; r++)
        {
            int k = first + r, offset = r * 3073;
            bytes[offset] = Label(k);
            for (int c = 0; c < 3; c++)
            {
                for (int p = 0; p < Plane; p++)
                {
                    bytes[offset + 1 + c * Plane + p] = Pixel(k, c, p);
                }
            }
        }
        return bytes;
    }

    private string WriteAll(string? subfolder = null)
    {
        string dir = subfolder is null ? _folder.Path : Directory.CreateDirectory(_folder.File(subfolder)).FullName;
        for (int f = 0; f < 5; f++)
        {
            File.WriteAllBytes(Path.Combine(dir, $"data_batch_{f + 1}.bin"), Batch(2 * f, 2));
        }
        File.WriteAllBytes(Path.Combine(dir, "test_batch.bin"), Batch(100, 2));
        return dir;
    }

    private static void AssertRecords(ImageDataset data, int first)
    {
        Assert.Equal((3, 32, 32, 10), (data.Channels, data.Height, data.Width, data.Classes));
        long[] labels = data.Labels.data<long>().ToArray();
        byte[] pixels = data.Images.data<byte>().ToArray();
        for (int n = 0; n < data.Count; n++)
        {
            int k = first + n;
            Assert.Equal(Label(k), labels[n]);
            for (int c = 0; c < 3; c++)
            {
                var expected = Enumerable.Range(0, Plane).Select(p => Pixel(k, c, p)).ToArray();
                Assert.Equal(expected, pixels.AsSpan((n * 3 + c) * Plane, Plane).ToArray());
            }
        }
    }

    [Fact]
    public void Loads_a_fake_training_set_with_labels_and_channel_planes()
    {
        string dir = WriteAll();

        using var data = Cifar10.Load(dir, train: true);

        Assert.Equal(10, data.Count);
        Assert.Equal(new long[] { 10, 3, 32, 32 }, data.Images.shape);
        AssertRecords(data, first: 0);
        // Spot check of the plane layout: red channel of record 3 at row 1, column 2 is byte 1 + 34 of its record.
        Assert.Equal(Pixel(3, 0, 34), data.Images[3, 0, 1, 2].item<byte>());
        Assert.Equal(Pixel(3, 2, 34), data.Images[3, 2, 1, 2].item<byte>());
    }

    [Fact]
    public void Loads_the_test_batch()
    {
        string dir = WriteAll();

        using var data = Cifar10.Load(dir, train: false);

        Assert.Equal(2, data.Count);
        Assert.Equal("cifar-10/test", data.Name);
        AssertRecords(data, first: 100);
    }

    [Fact]
    public void Accepts_the_parent_of_cifar_10_batches_bin()
    {
        WriteAll("cifar-10-batches-bin");

        using var data = Cifar10.Load(_folder.Path, train: true);

        Assert.Equal(10, data.Count);
        AssertRecords(data, first: 0);
    }

    [Fact]
    public void Rejects_a_truncated_record()
    {
        string dir = WriteAll();
        string path = Path.Combine(dir, "data_batch_3.bin");
        File.WriteAllBytes(path, Batch(4, 2)[..^1]);

        var error = Assert.Throws<DatasetFormatException>(() => Cifar10.Load(dir, train: true));

        Assert.Contains(path, error.Message);
        Assert.Contains("3073", error.Message);
    }

    [Fact]
    public void Rejects_a_label_out_of_range()
    {
        string dir = WriteAll();
        byte[] batch = Batch(100, 2);
        batch[3073] = 10;
        File.WriteAllBytes(Path.Combine(dir, "test_batch.bin"), batch);

        var error = Assert.Throws<DatasetFormatException>(() => Cifar10.Load(dir, train: false));

        Assert.Contains("label 10 of record 1", error.Message);
    }

    [Fact]
    public void A_missing_batch_file_is_named()
    {
        string dir = WriteAll();
        File.Delete(Path.Combine(dir, "data_batch_4.bin"));

        var error = Assert.Throws<DatasetNotFoundException>(() => Cifar10.Load(dir, train: true));

        Assert.Contains("missing data_batch_4.bin", error.Message);
    }

    [Fact]
    public void A_missing_folder_says_where_to_get_the_binary_version()
    {
        string missing = _folder.File("nowhere");

        var error = Assert.Throws<DatasetNotFoundException>(() => Cifar10.Load(missing, train: true));

        Assert.Contains(missing, error.Message);
        Assert.Contains("cifar-10-batches-bin", error.Message);
        Assert.Contains("binary", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
