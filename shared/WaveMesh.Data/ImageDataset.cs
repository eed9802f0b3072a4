using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data;

/// <summary>
/// An image-classification dataset held as two whole CPU tensors: images uint8 [N, C, H, W] and
/// labels int64 [N]. The dataset owns both tensors (they are detached from any dispose scope
/// when the dataset is built) and frees them in <see cref="Dispose"/>.
/// </summary>
public sealed class ImageDataset : IDisposable
{
    private bool _disposed;

    /// <param name="name">A display name, e.g. "fashion-mnist/train".</param>
    /// <param name="images">uint8 [N, C, H, W] on the CPU; ownership passes to the dataset.</param>
    /// <param name="labels">int64 [N] on the CPU with values in [0, classes); ownership passes to the dataset.</param>
    /// <param name="classes">The number of classes (at least 1).</param>
    public ImageDataset(string name, Tensor images, Tensor labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.dtype != ScalarType.Byte || images.dim() != 4)
        {
            throw new ArgumentException($"images must be uint8 [N, C, H, W], got {images.dtype} [{string.Join(", ", images.shape)}]", nameof(images));
        }
        if (labels.dtype != ScalarType.Int64 || labels.dim() != 1)
        {
            throw new ArgumentException($"labels must be int64 [N], got {labels.dtype} [{string.Join(", ", labels.shape)}]", nameof(labels));
        }
        if (images.device_type != DeviceType.CPU || labels.device_type != DeviceType.CPU)
        {
            throw new ArgumentException("images and labels must be CPU tensors");
        }
        if (images.shape[0] != labels.shape[0])
        {
            throw new ArgumentException($"{images.shape[0]} images but {labels.shape[0]} labels", nameof(labels));
        }
        if (images.shape[0] > int.MaxValue || images.shape[1] * images.shape[2] * images.shape[3] > int.MaxValue)
        {
            throw new ArgumentException("dataset too large", nameof(images));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);

        if (labels.shape[0] > 0)
        {
            using var scope = torch.NewDisposeScope();
            long min = labels.min().item<long>();
            long max = labels.max().item<long>();
            if (min < 0 || max >= classes)
            {
                throw new ArgumentException($"labels must lie in [0, {classes}), found values in [{min}, {max}]", nameof(labels));
            }
        }

        Name = name;
        Images = images.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
        Classes = classes;
        Count = (int)images.shape[0];
        Channels = (int)images.shape[1];
        Height = (int)images.shape[2];
        Width = (int)images.shape[3];
    }

    public string Name { get; }

    /// <summary>uint8 [N, C, H, W], CPU.</summary>
    public Tensor Images { get; }

    /// <summary>int64 [N], CPU.</summary>
    public Tensor Labels { get; }

    public int Count { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Classes { get; }

    /// <summary>
    /// A deterministic random subset of <paramref name="count"/> distinct samples, kept in their
    /// original order. The same seed always selects the same samples; a count of at least
    /// <see cref="Count"/> returns a copy of the whole dataset.
    /// </summary>
    public ImageDataset Subset(int count, long seed)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count >= Count)
        {
            return new ImageDataset(Name, Images.clone(), Labels.clone(), Classes);
        }

        // Partial Fisher-Yates: the first `count` slots become a uniform sample without replacement.
        var pool = new long[Count];
        for (int i = 0; i < pool.Length; i++) pool[i] = i;
        var rng = new SplitMix64(SplitMix64.Derive(seed, SplitMix64.SubsetPurpose));
        for (int i = 0; i < count; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(Count - i));
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var chosen = pool.AsSpan(0, count).ToArray();
        Array.Sort(chosen);
        return Take(chosen);
    }

    /// <summary>The samples at <paramref name="indices"/>, in that order (repeats allowed).</summary>
    public ImageDataset Take(long[] indices)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(indices);
        foreach (long index in indices)
        {
            if (index < 0 || index >= Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"index outside [0, {Count})");
            }
        }

        using var scope = torch.NewDisposeScope();
        var idx = torch.tensor(indices, ScalarType.Int64);
        var images = Images.index_select(0, idx);
        var labels = Labels.index_select(0, idx);
        // The constructor detaches both tensors from the scope, so they outlive it.
        return new ImageDataset(Name, images, labels, Classes);
    }

    /// <summary>
    /// Per-channel mean and (population) standard deviation of the pixel values scaled to [0, 1].
    /// Computed exactly from per-channel byte histograms.
    /// </summary>
    public (float[] Mean, float[] Std) ChannelStatistics()
    {
        ThrowIfDisposed();
        if (Count == 0)
        {
            throw new InvalidOperationException($"Dataset {Name} is empty: channel statistics are undefined");
        }

        var histogram = new long[Channels * 256];
        using (var scope = torch.NewDisposeScope())
        {
            ReadOnlySpan<byte> pixels = Images.contiguous().bytes;
            int plane = Height * Width;
            int offset = 0;
            for (int n = 0; n < Count; n++)
            {
                for (int c = 0; c < Channels; c++)
                {
                    Span<long> bins = histogram.AsSpan(c * 256, 256);
                    foreach (byte value in pixels.Slice(offset, plane))
                    {
                        bins[value]++;
                    }
                    offset += plane;
                }
            }
        }

        var mean = new float[Channels];
        var std = new float[Channels];
        double total = (double)Count * Height * Width;
        for (int c = 0; c < Channels; c++)
        {
            double sum = 0, sumSquares = 0;
            for (int v = 0; v < 256; v++)
            {
                double count = histogram[c * 256 + v];
                sum += count * v;
                sumSquares += count * v * v;
            }
            double m = sum / total;
            double variance = Math.Max(0, sumSquares / total - m * m);
            mean[c] = (float)(m / 255.0);
            std[c] = (float)(Math.Sqrt(variance) / 255.0);
        }
        return (mean, std);
    }

    public override string ToString() => $"{Name}: {Count} x {Channels}x{Height}x{Width}, {Classes} classes";

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Images.Dispose();
        Labels.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
