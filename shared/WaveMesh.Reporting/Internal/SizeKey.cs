namespace WaveMesh.Reporting.Internal;

/// <summary>The shape of a Vision Transformer, used to group results by target size.</summary>
internal readonly record struct SizeKey(int Depth, int Width, int Heads)
{
    public string Label => $"L{Depth} D{Width} H{Heads}";

    /// <summary>Sizes ordered by parameter count first, because that is how readers compare them.</summary>
    public static List<(SizeKey Size, long Params)> Ordered(IEnumerable<(SizeKey Size, long Params)> sizes) =>
        sizes
            .GroupBy(s => s.Size)
            .Select(g => (g.Key, g.Max(s => s.Params)))
            .OrderBy(s => s.Item2)
            .ThenBy(s => s.Key.Depth)
            .ThenBy(s => s.Key.Width)
            .ThenBy(s => s.Key.Heads)
            .ToList();
}
