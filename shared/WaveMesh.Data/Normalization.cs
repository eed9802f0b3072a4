namespace WaveMesh.Data;

/// <summary>
/// Per-channel normalisation applied to pixels scaled to [0, 1]: (x / 255 - Mean[c]) / Std[c].
/// </summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    /// <summary>Only scales to [0, 1] (mean 0, std 1 for every channel).</summary>
    public static Normalization None(int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        return new Normalization(Enumerable.Repeat(0f, channels).ToArray(), Enumerable.Repeat(1f, channels).ToArray());
    }

    /// <summary>The dataset's own per-channel mean and standard deviation (see <see cref="ImageDataset.ChannelStatistics"/>).</summary>
    public static Normalization FromStatistics(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (mean, std) = data.ChannelStatistics();
        return new Normalization(mean, std);
    }

    /// <summary>Throws unless there is one finite mean and one positive finite std per channel.</summary>
    public void Validate(int channels)
    {
        if (Mean is null || Std is null || Mean.Length != channels || Std.Length != channels)
        {
            throw new ArgumentException(
                $"normalization needs {channels} mean and {channels} std values, got {Mean?.Length ?? 0} and {Std?.Length ?? 0}");
        }
        for (int c = 0; c < channels; c++)
        {
            if (!float.IsFinite(Mean[c]) || !float.IsFinite(Std[c]) || Std[c] <= 0)
            {
                throw new ArgumentException($"normalization channel {c}: mean {Mean[c]} and std {Std[c]} must be finite with std > 0");
            }
        }
    }
}
