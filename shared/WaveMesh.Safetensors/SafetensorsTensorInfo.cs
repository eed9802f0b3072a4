using System.Globalization;

namespace WaveMesh.Safetensors;

/// <summary>One tensor entry of a safetensors header.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Dtype">Element type.</param>
/// <param name="Shape">Dimensions; empty for a scalar.</param>
/// <param name="Begin">Start of the tensor's bytes, relative to the start of the data buffer.</param>
/// <param name="End">End (exclusive) of the tensor's bytes, relative to the start of the data buffer.</param>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (var dim in Shape)
            {
                count = checked(count * dim);
            }

            return count;
        }
    }

    /// <summary>Number of bytes of the tensor's data (<see cref="End"/> - <see cref="Begin"/>).</summary>
    public long ByteLength => End - Begin;

    /// <summary>Value equality, comparing the shape element by element.</summary>
    public bool Equals(SafetensorsTensorInfo? other) =>
        other is not null
        && string.Equals(Name, other.Name, StringComparison.Ordinal)
        && Dtype == other.Dtype
        && Begin == other.Begin
        && End == other.End
        && Shape.AsSpan().SequenceEqual(other.Shape);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Name, StringComparer.Ordinal);
        hash.Add(Dtype);
        hash.Add(Begin);
        hash.Add(End);
        foreach (var dim in Shape)
        {
            hash.Add(dim);
        }

        return hash.ToHashCode();
    }

    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Name}: {Dtype.ToHeaderName()} [{string.Join(", ", Shape)}] bytes [{Begin}, {End})");
}
