using System.Globalization;

namespace WaveMesh.Reporting.Internal;

/// <summary>Culture-independent number formatting shared by the Markdown writers.</summary>
internal static class Fmt
{
    public const string Missing = "—";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static bool IsFinite(double v) => double.IsFinite(v);

    /// <summary>A 0..1 fraction as a percentage number without the sign, e.g. 0.8123 → "81.23".</summary>
    public static string PercentNumber(double fraction) => IsFinite(fraction) ? (fraction * 100).ToString("0.00", Inv) : Missing;

    public static string Percent(double fraction) => IsFinite(fraction) ? PercentNumber(fraction) + "%" : Missing;

    public static string Count(long n) => n.ToString("#,0", Inv);

    /// <summary>A parameter count short enough for prose, e.g. 21665000 → "21.7M".</summary>
    public static string Compact(long n)
    {
        var abs = Math.Abs((double)n);
        return abs switch
        {
            >= 1e9 => (n / 1e9).ToString("0.##", Inv) + "B",
            >= 1e6 => (n / 1e6).ToString(abs >= 1e8 ? "0" : abs >= 1e7 ? "0.0" : "0.00", Inv) + "M",
            >= 1e3 => (n / 1e3).ToString(abs >= 1e5 ? "0" : abs >= 1e4 ? "0.0" : "0.00", Inv) + "K",
            _ => n.ToString(Inv),
        };
    }

    public static string Number(double v, string format = "0.0") => IsFinite(v) ? v.ToString(format, Inv) : Missing;

    /// <summary>Seconds, with minutes or hours alongside once the raw number stops being easy to read.</summary>
    public static string Duration(double seconds)
    {
        if (!IsFinite(seconds))
        {
            return Missing;
        }

        var s = seconds.ToString("#,0.0", Inv) + " s";
        return Math.Abs(seconds) switch
        {
            >= 3600 => $"{s} ({(seconds / 3600).ToString("0.00", Inv)} h)",
            >= 60 => $"{s} ({(seconds / 60).ToString("0.0", Inv)} min)",
            _ => s,
        };
    }

    /// <summary>A budget in epochs without trailing zeros: 0, 0.25, 1, 3, 10.</summary>
    public static string Budget(double epochs) => epochs.ToString("0.###", Inv);

    public static string Date(DateTime date) =>
        date.ToString("yyyy-MM-dd HH:mm", Inv) + (date.Kind == DateTimeKind.Utc ? " UTC" : string.Empty);

    /// <summary>Text made safe for one Markdown table cell, because a stray pipe or newline breaks the whole table.</summary>
    public static string Cell(string? text) =>
        string.IsNullOrEmpty(text) ? Missing : text.Replace("|", "\\|").Replace("\r", " ").Replace("\n", " ");

    /// <summary>Inline code that survives backticks inside the text.</summary>
    public static string Code(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return Missing;
        }

        var flat = text.Replace("\r", " ").Replace("\n", " ");
        var fence = flat.Contains('`') ? "`` " : "`";
        var close = flat.Contains('`') ? " ``" : "`";
        return fence + flat + close;
    }
}
