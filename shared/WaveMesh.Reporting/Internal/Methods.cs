using ScottPlot;

namespace WaveMesh.Reporting.Internal;

/// <summary>Fixed order and colour of the initialisation methods, so every table and chart reads the same way.</summary>
internal static class Methods
{
    public const string Wave = "wave";
    public const string Scratch = "scratch";
    public const string WeightSelection = "weight_selection";

    private static readonly string[] Known = [Wave, Scratch, WeightSelection];

    // WAVE stands out in red; the baselines get calm colours. Methods we do not know yet borrow from the tail.
    private static readonly Color[] KnownColors =
    [
        Color.FromHex("#d62728"),
        Color.FromHex("#7f7f7f"),
        Color.FromHex("#1f77b4"),
    ];

    private static readonly Color[] SpareColors =
    [
        Color.FromHex("#2ca02c"), Color.FromHex("#9467bd"), Color.FromHex("#8c564b"),
        Color.FromHex("#e377c2"), Color.FromHex("#bcbd22"), Color.FromHex("#17becf"),
    ];

    public static string Key(string? method) => (method ?? string.Empty).Trim().ToLowerInvariant();

    public static bool IsWave(string? method) => Key(method) == Wave;

    public static int Rank(string? method)
    {
        var index = Array.IndexOf(Known, Key(method));
        return index < 0 ? Known.Length : index;
    }

    /// <summary>Orders methods as wave, scratch, weight_selection, then any others alphabetically.</summary>
    public static int Compare(string? a, string? b)
    {
        var byRank = Rank(a).CompareTo(Rank(b));
        return byRank != 0 ? byRank : string.CompareOrdinal(Key(a), Key(b));
    }

    /// <summary>Distinct methods (by key) in display order, keeping the first spelling seen.</summary>
    public static List<string> Ordered(IEnumerable<string?> methods)
    {
        var seen = new Dictionary<string, string>();
        foreach (var m in methods)
        {
            var key = Key(m);
            seen.TryAdd(key, string.IsNullOrWhiteSpace(m) ? "(unnamed)" : m.Trim());
        }

        var list = seen.Values.ToList();
        list.Sort(Compare);
        return list;
    }

    /// <summary>Colours for the given display-ordered methods; unknown methods get distinct spare colours.</summary>
    public static Dictionary<string, Color> Colors(IReadOnlyList<string> ordered)
    {
        var colors = new Dictionary<string, Color>();
        var spare = 0;
        foreach (var m in ordered)
        {
            var key = Key(m);
            if (colors.ContainsKey(key))
            {
                continue;
            }

            var rank = Rank(m);
            colors[key] = rank < KnownColors.Length ? KnownColors[rank] : SpareColors[spare++ % SpareColors.Length];
        }

        return colors;
    }
}
