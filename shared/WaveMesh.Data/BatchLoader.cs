using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Data;

/// <summary>Training-time augmentation applied per batch by <see cref="BatchLoader"/>.</summary>
public enum Augmentation
{
    None,

    /// <summary>
    /// Per sample: a random translation of up to <see cref="BatchLoader.CropPadding"/> pixels in
    /// each direction (uncovered pixels are black, i.e. raw value 0) and a random horizontal flip.
    /// </summary>
    RandomCropFlip,
}

/// <summary>
/// Iterates an <see cref="ImageDataset"/> in batches of float32 [B, C, H, W] inputs, normalised as
/// (x / 255 - mean) / std, and int64 [B] labels, both on the chosen device.
/// Each batch is one <c>index_select</c> of the whole uint8 image tensor (no per-sample work),
/// moved to the device as uint8 and converted/normalised there.
/// The order of an epoch depends only on (seed, epoch) through SplitMix64 + Fisher-Yates, and the
/// augmentation of a batch only on (seed, epoch, batch) through a torch.Generator seeded here.
/// </summary>
public sealed class BatchLoader
{
    /// <summary>Largest translation, in pixels, of <see cref="Augmentation.RandomCropFlip"/>.</summary>
    public const int CropPadding = 2;

    private readonly float[] _scale;
    private readonly float[] _shift;

    public BatchLoader(ImageDataset data, int batchSize, bool shuffle, long seed, Normalization normalization, torch.Device device,
        bool dropLast = false, Augmentation augmentation = Augmentation.None)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (!Enum.IsDefined(augmentation)) throw new ArgumentOutOfRangeException(nameof(augmentation), augmentation, "unknown augmentation");
        normalization.Validate(data.Channels);

        Data = data;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Seed = seed;
        Normalization = normalization;
        Device = device;
        DropLast = dropLast;
        Augmentation = augmentation;
        BatchesPerEpoch = dropLast ? data.Count / batchSize : (data.Count + batchSize - 1) / batchSize;

        // (x / 255 - mean) / std  ==  x * (1 / (255 std)) + (-mean / std): one multiply-add on the device.
        _scale = new float[data.Channels];
        _shift = new float[data.Channels];
        for (int c = 0; c < data.Channels; c++)
        {
            _scale[c] = (float)(1.0 / (255.0 * normalization.Std[c]));
            _shift[c] = (float)(-(double)normalization.Mean[c] / normalization.Std[c]);
        }
    }

    public ImageDataset Data { get; }
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public long Seed { get; }
    public Normalization Normalization { get; }
    public torch.Device Device { get; }
    public bool DropLast { get; }
    public Augmentation Augmentation { get; }
    public int BatchesPerEpoch { get; }

    /// <summary>
    /// The sample indices of an epoch in visiting order (all of them, before dropLast trims the
    /// final partial batch): a permutation fixed by (seed, epoch) when shuffling, 0..N-1 otherwise.
    /// </summary>
    public long[] Order(int epoch)
    {
        var order = new long[Data.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle)
        {
            new SplitMix64(SplitMix64.Derive(Seed, SplitMix64.ShufflePurpose, epoch)).Shuffle(order);
        }
        return order;
    }

    /// <summary>
    /// The batches of one epoch. The caller owns (disposes) every returned tensor; they are placed
    /// in the caller's current dispose scope, if any. Each call is independent and repeatable.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch)
    {
        // Long-lived tensors of this enumeration: detached from any scope, freed in finally.
        Tensor? order = null, scale = null, shift = null;
        var visiting = Order(epoch);
        try
        {
            order = torch.tensor(visiting, ScalarType.Int64).DetachFromDisposeScope();
            scale = torch.tensor(_scale, [1, Data.Channels, 1, 1], ScalarType.Float32, Device).DetachFromDisposeScope();
            shift = torch.tensor(_shift, [1, Data.Channels, 1, 1], ScalarType.Float32, Device).DetachFromDisposeScope();

            for (int batch = 0; batch < BatchesPerEpoch; batch++)
            {
                long start = (long)batch * BatchSize;
                long length = Math.Min(BatchSize, Data.Count - start);
                Tensor inputs, labels;
                // The scope must be closed before yielding: the caller's code runs between MoveNext calls.
                using (var scope = torch.NewDisposeScope())
                {
                    var indices = order.narrow(0, start, length);
                    var x = Data.Images.index_select(0, indices).to(Device).to_type(ScalarType.Float32);
                    if (Augmentation == Augmentation.RandomCropFlip)
                    {
                        x = CropFlip(x, epoch, batch);
                    }
                    inputs = x.mul_(scale).add_(shift).MoveToOuterDisposeScope();
                    labels = Data.Labels.index_select(0, indices).to(Device).MoveToOuterDisposeScope();
                }
                yield return new Batch(inputs, labels, visiting, start, (int)length, Device);
            }
        }
        finally
        {
            order?.Dispose();
            scale?.Dispose();
            shift?.Dispose();
        }
    }

    /// <summary>
    /// Random translation (zero padding) and horizontal flip of every sample of a float batch in
    /// two gathers: out[b, c, i, j] = padded[b, c, dy[b] + i, dx[b] + (flip[b] ? W - 1 - j : j)].
    /// </summary>
    private Tensor CropFlip(Tensor x, int epoch, int batch)
    {
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        const int p = CropPadding;

        Tensor dy, dx, flip;
        using (var generator = new torch.Generator(SplitMix64.Derive(Seed, SplitMix64.AugmentPurpose, epoch, batch)))
        {
            dy = torch.randint(0, 2 * p + 1, [b], ScalarType.Int64, generator: generator);
            dx = torch.randint(0, 2 * p + 1, [b], ScalarType.Int64, generator: generator);
            flip = torch.randint(0, 2, [b], ScalarType.Int64, generator: generator);
        }
        dy = dy.to(Device);
        dx = dx.to(Device);
        var flipped = flip.to(Device).to_type(ScalarType.Bool).view(b, 1);

        // Index ranges from managed arrays: torch.arange would create native Scalars that only the finalizer frees.
        var rows = dy.view(b, 1) + torch.tensor(Range(h, reverse: false), ScalarType.Int64, Device).view(1, h);   // [b, h]
        var columns = torch.tensor(Range(w, reverse: false), ScalarType.Int64, Device).view(1, w);
        var mirrored = torch.tensor(Range(w, reverse: true), ScalarType.Int64, Device).view(1, w);
        var cols = torch.where(flipped, mirrored, columns) + dx.view(b, 1);                                 // [b, w]

        var padded = torch.nn.functional.pad(x, [p, p, p, p]);                                               // [b, c, h+2p, w+2p]
        var pickedRows = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * p));                  // [b, c, h, w+2p]
        return pickedRows.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w));                              // [b, c, h, w]
    }

    private static long[] Range(long n, bool reverse)
    {
        var r = new long[n];
        for (long i = 0; i < n; i++) r[i] = reverse ? n - 1 - i : i;
        return r;
    }
}

/// <summary>
/// One batch: normalised inputs, labels, and (created on first use, on the batch's device) the samples' positions
/// in the dataset. Disposing the batch disposes all three.
/// </summary>
public sealed class Batch : IDisposable
{
    private readonly long[] _order;
    private readonly long _start;
    private readonly torch.Device _device;
    private Tensor? _indices;

    internal Batch(Tensor inputs, Tensor labels, long[] order, long start, int count, torch.Device device)
    {
        Inputs = inputs;
        Labels = labels;
        _order = order;
        _start = start;
        _device = device;
        Count = count;
    }

    public Tensor Inputs { get; }
    public Tensor Labels { get; }
    public int Count { get; }

    /// <summary>Dataset positions of the batch's samples, int64 [B], in the current dispose scope.</summary>
    public Tensor Indices => _indices ??= torch.tensor(_order.AsSpan((int)_start, Count).ToArray(), ScalarType.Int64, _device);

    public void Deconstruct(out Tensor inputs, out Tensor labels)
    {
        inputs = Inputs;
        labels = Labels;
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
        _indices?.Dispose();
    }
}
