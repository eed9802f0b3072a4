using ScottPlot;
using SkiaSharp;

namespace WaveMesh.Reporting.Internal;

/// <summary>Lays out one ScottPlot panel per target size under a shared title and legend, and encodes it as PNG.</summary>
internal static class ChartCanvas
{
    private const string PreferredFamily = "DejaVu Sans";

    // ScottPlot's own default resolves to a serif face on Debian; a sans face reads better at small sizes.
    private static readonly Lazy<string> Family = new(() =>
    {
        var typeface = Fonts.GetTypeface(PreferredFamily, false, false);
        return typeface is not null && typeface.FamilyName == PreferredFamily ? PreferredFamily : Fonts.Default;
    });

    public static string FontFamily => Family.Value;

    /// <summary>
    /// Renders <paramref name="panelCount"/> panels in a grid; <paramref name="fillPanel"/> adds the data of panel i.
    /// With no panels the figure shows <paramref name="emptyMessage"/> instead, so partial runs still get a picture.
    /// </summary>
    public static byte[] Render(
        int width, int height, string title, IReadOnlyList<(string Label, Color Color)> legend,
        int panelCount, Action<Plot, int> fillPanel, string emptyMessage)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 200);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 150);

        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"SkiaSharp could not create a {width}x{height} surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);

        var headerHeight = Math.Clamp(height * 0.1f, 56f, 96f);
        DrawHeader(canvas, width, headerHeight, title, legend);

        var area = new SKRect(0, headerHeight, width, height);
        if (panelCount <= 0)
        {
            DrawCentered(canvas, area, emptyMessage, headerHeight * 0.3f, SKColors.DimGray);
        }
        else
        {
            DrawPanels(canvas, area, panelCount, fillPanel);
        }

        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Picks the grid whose cells come closest to a comfortable 1.4:1 aspect at the largest size.</summary>
    internal static (int Rows, int Cols) Grid(int count, float width, float height)
    {
        var best = (Rows: 1, Cols: count);
        var bestScore = float.NegativeInfinity;
        for (var cols = 1; cols <= count; cols++)
        {
            var rows = (count + cols - 1) / cols;
            var score = Math.Min(width / cols / 1.4f, height / rows);
            if (score > bestScore + 0.5f)
            {
                bestScore = score;
                best = (rows, cols);
            }
        }

        return best;
    }

    private static void DrawPanels(SKCanvas canvas, SKRect area, int count, Action<Plot, int> fillPanel)
    {
        var (rows, cols) = Grid(count, area.Width, area.Height);
        var cellWidth = area.Width / cols;
        var cellHeight = area.Height / rows;
        var scale = Math.Clamp(Math.Min(cellWidth / 520f, cellHeight / 360f), 0.8f, 1.25f);

        for (var i = 0; i < count; i++)
        {
            var row = i / cols;
            var col = i % cols;
            var left = area.Left + col * cellWidth;
            var top = area.Top + row * cellHeight;

            using var plot = new Plot();
            // By default a plot wipes the whole canvas, which would erase the header and the panels before it.
            plot.RenderManager.ClearCanvasBeforeEachRender = false;
            Style(plot, scale);
            fillPanel(plot, i);
            canvas.Save();
            canvas.ClipRect(new SKRect(left, top, left + cellWidth, top + cellHeight));
            // A small inset keeps neighbouring panels' frames and labels from touching each other or the edge.
            plot.Render(canvas, new PixelRect(left + 4, left + cellWidth - 14, top + cellHeight - 4, top + 4));
            canvas.Restore();
        }
    }

    private static void Style(Plot plot, float scale)
    {
        plot.Font.Set(FontFamily);
        plot.Axes.Title.Label.FontSize = 17 * scale;
        plot.Axes.Title.Label.Bold = true;
        plot.Axes.Bottom.Label.FontSize = 14 * scale;
        plot.Axes.Left.Label.FontSize = 14 * scale;
        plot.Axes.Bottom.Label.Bold = false;
        plot.Axes.Left.Label.Bold = false;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 12 * scale;
        plot.Axes.Left.TickLabelStyle.FontSize = 12 * scale;
        plot.Grid.MajorLineColor = Color.FromHex("#e5e5e5");
    }

    private static void DrawHeader(SKCanvas canvas, int width, float headerHeight, string title, IReadOnlyList<(string Label, Color Color)> legend)
    {
        // Typefaces come from ScottPlot's cache and are shared: they must not be disposed here.
        var titleTypeface = Fonts.GetTypeface(FontFamily, true, false);
        var textTypeface = Fonts.GetTypeface(FontFamily, false, false);
        using var titleFont = new SKFont(titleTypeface, headerHeight * 0.3f) { Subpixel = true };
        using var legendFont = new SKFont(textTypeface, headerHeight * 0.24f) { Subpixel = true };
        using var ink = new SKPaint { Color = new SKColor(0x22, 0x22, 0x22), IsAntialias = true };

        // Long titles shrink rather than run off a narrow figure.
        var titleWidth = titleFont.MeasureText(title);
        if (titleWidth > width * 0.94f)
        {
            titleFont.Size *= width * 0.94f / titleWidth;
        }

        canvas.DrawText(title, width / 2f, headerHeight * 0.4f, SKTextAlign.Center, titleFont, ink);

        if (legend.Count == 0)
        {
            return;
        }

        var swatch = legendFont.Size * 2.2f;
        var gap = legendFont.Size * 0.5f;
        var spacing = legendFont.Size * 1.6f;
        var widths = legend.Select(item => swatch + gap + legendFont.MeasureText(item.Label)).ToArray();
        var total = widths.Sum() + spacing * (legend.Count - 1);
        var x = Math.Max(8f, (width - total) / 2f);
        var baseline = headerHeight * 0.82f;
        var middle = baseline - legendFont.Size * 0.35f;

        for (var i = 0; i < legend.Count; i++)
        {
            var (label, color) = legend[i];
            using var line = new SKPaint { Color = color.ToSKColor(), IsAntialias = true, StrokeWidth = 3, Style = SKPaintStyle.Stroke };
            using var dot = new SKPaint { Color = color.ToSKColor(), IsAntialias = true, Style = SKPaintStyle.Fill };
            canvas.DrawLine(x, middle, x + swatch, middle, line);
            canvas.DrawCircle(x + swatch / 2f, middle, legendFont.Size * 0.25f, dot);
            canvas.DrawText(label, x + swatch + gap, baseline, SKTextAlign.Left, legendFont, ink);
            x += widths[i] + spacing;
        }
    }

    private static void DrawCentered(SKCanvas canvas, SKRect area, string text, float size, SKColor color)
    {
        var typeface = Fonts.GetTypeface(FontFamily, false, false);
        using var font = new SKFont(typeface, size);
        using var paint = new SKPaint { Color = color, IsAntialias = true };
        canvas.DrawText(text, area.MidX, area.MidY, SKTextAlign.Center, font, paint);
    }

    /// <summary>Y limits in percent that start at zero for weak models and zoom in on strong ones, in steps of ten.</summary>
    public static (double Low, double High) PercentLimits(IEnumerable<double> percents)
    {
        var values = percents.Where(double.IsFinite).ToArray();
        if (values.Length == 0)
        {
            return (0, 100);
        }

        var low = values.Min();
        var high = values.Max();
        var bottom = low < 20 ? 0 : Math.Floor((low - 5) / 10) * 10;
        var top = Math.Ceiling((high + 5) / 10) * 10;
        if (high <= 100)
        {
            top = Math.Min(100, top);
        }

        if (top - bottom < 10)
        {
            bottom = Math.Max(0, top - 10);
        }

        return (bottom, Math.Max(top, bottom + 10));
    }
}
