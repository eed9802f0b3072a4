using System.Buffers.Binary;
using SkiaSharp;

namespace WaveMesh.Reporting.Tests;

/// <summary>Reads a PNG the way a viewer would, so tests can tell a real chart from an empty or broken file.</summary>
internal sealed record Png(int Width, int Height, int DistinctColors, IReadOnlyList<SKColor> Palette)
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static Png Read(byte[] bytes)
    {
        Assert.True(bytes.Length > 33, "too short to hold a PNG header");
        Assert.Equal(Signature, bytes[..8]);
        // The first chunk must be IHDR, whose data starts with the big-endian width and height.
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        var width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4));
        var height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4));

        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal(width, bitmap.Width);
        Assert.Equal(height, bitmap.Height);

        var colors = new HashSet<SKColor>();
        foreach (var pixel in bitmap.Pixels)
        {
            colors.Add(pixel);
        }

        return new Png(width, height, colors.Count, colors.ToList());
    }

    /// <summary>How many distinct colours lie within <paramref name="tolerance"/> of <paramref name="hex"/> in every channel.</summary>
    public int ShadesNear(string hex, int tolerance = 12)
    {
        var target = SKColor.Parse(hex);
        return Palette.Count(c =>
            Math.Abs(c.Red - target.Red) <= tolerance &&
            Math.Abs(c.Green - target.Green) <= tolerance &&
            Math.Abs(c.Blue - target.Blue) <= tolerance);
    }
}
