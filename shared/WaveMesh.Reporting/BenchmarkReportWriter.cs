using System.Text;
using ScottPlot.TickGenerators;
using WaveMesh.Reporting.Internal;

namespace WaveMesh.Reporting;

/// <summary>Writes the benchmark report: results.json, results.md and accuracy-vs-budget.png; tolerates partial data.</summary>
public static class BenchmarkReportWriter
{
    public const string JsonFileName = "results.json";
    public const string MarkdownFileName = "results.md";
    public const string ChartFileName = "accuracy-vs-budget.png";

    /// <summary>Writes the three result files into <paramref name="directory"/>, creating it if needed.</summary>
    public static void Write(BenchmarkReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);

        Files.WriteText(Path.Combine(directory, JsonFileName), ToJson(report));
        Files.WriteBytes(Path.Combine(directory, ChartFileName), ChartPng(report));
        Files.WriteText(Path.Combine(directory, MarkdownFileName), ToMarkdown(report));
    }

    /// <summary>Everything in the report as indented snake_case JSON, plus the per-seed summary the tables show.</summary>
    public static string ToJson(BenchmarkReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var cells = Cells(r);
        return Json.Write(w =>
        {
            w.WriteStartObject();
            Json.String(w, "command", r.Command);
            w.WriteString("date", r.Date);
            Json.String(w, "machine", r.Machine);
            Json.Teacher(w, r.Teacher);
            Json.Templates(w, r.Templates);
            Json.Number(w, "stage1_seconds", r.Stage1Seconds);
            Json.Number(w, "matmul_peak_gflops", r.MatmulPeakGflops);

            w.WriteStartArray("cells");
            foreach (var c in cells)
            {
                w.WriteStartObject();
                w.WriteNumber("depth", c.Depth);
                w.WriteNumber("width", c.Width);
                w.WriteNumber("heads", c.Heads);
                w.WriteNumber("params", c.Params);
                Json.String(w, "method", c.Method);
                w.WriteNumber("seed", c.Seed);
                Json.Number(w, "budget_epochs", c.BudgetEpochs);
                w.WriteNumber("steps", c.Steps);
                w.WriteNumber("stage2_steps", c.Stage2Steps);
                Json.Number(w, "accuracy", c.Accuracy);
                Json.Number(w, "seconds", c.Seconds);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("summary");
            foreach (var s in Summaries(cells))
            {
                w.WriteStartObject();
                w.WriteNumber("depth", s.Size.Depth);
                w.WriteNumber("width", s.Size.Width);
                w.WriteNumber("heads", s.Size.Heads);
                w.WriteNumber("params", s.Params);
                Json.String(w, "method", s.Method);
                Json.Number(w, "budget_epochs", s.Budget);
                w.WriteNumber("n", s.Stats.N);
                Json.Number(w, "mean_accuracy", s.Stats.Mean);
                Json.Number(w, "std_accuracy", s.Stats.Std);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("claims");
            foreach (var c in (r.Claims ?? []).Where(c => c is not null))
            {
                w.WriteStartObject();
                Json.String(w, "text", c.Text);
                w.WriteBoolean("met", c.Met);
                Json.String(w, "evidence", c.Evidence);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("throughput");
            foreach (var t in (r.Throughput ?? []).Where(t => t is not null))
            {
                w.WriteStartObject();
                Json.String(w, "loop", t.Loop);
                Json.String(w, "model", t.Model);
                Json.Number(w, "examples_per_second", t.ExamplesPerSecond);
                Json.Number(w, "gflops_per_second", t.GflopsPerSecond);
                Json.Number(w, "fraction_of_peak", t.FractionOfPeak);
                if (t.PeakGflops > 0) Json.Number(w, "peak_gflops", t.PeakGflops);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>The benchmark as Markdown: provenance, claims, one accuracy-by-budget table per size, throughput.</summary>
    public static string ToMarkdown(BenchmarkReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var cells = Cells(r);
        var sizes = Sizes(cells);
        var budgets = Budgets(cells);
        var methods = Methods.Ordered(cells.Select(c => c.Method));

        var md = new StringBuilder();
        md.AppendLine("# WaveMesh benchmark results");
        md.AppendLine();
        md.AppendLine($"Produced by {Fmt.Code(r.Command)} on {Fmt.Date(r.Date)}, machine: {(string.IsNullOrWhiteSpace(r.Machine) ? Fmt.Missing : r.Machine)}.");
        md.AppendLine();
        AppendStage1(md, r, sizes.Count);

        md.AppendLine("## Targets");
        md.AppendLine();
        var claims = (r.Claims ?? []).Where(c => c is not null).ToList();
        if (claims.Count == 0)
        {
            md.AppendLine("_No target has been evaluated yet._");
        }

        foreach (var c in claims)
        {
            var evidence = string.IsNullOrWhiteSpace(c.Evidence) ? string.Empty : $" — {c.Evidence}";
            md.AppendLine($"- [{(c.Met ? "x" : " ")}] {c.Text}{evidence}");
        }

        md.AppendLine();
        md.AppendLine("## Accuracy by budget");
        md.AppendLine();
        if (sizes.Count == 0)
        {
            md.AppendLine("_No accuracy has been measured yet._");
            md.AppendLine();
        }
        else
        {
            md.AppendLine("Test accuracy in %: mean ± sample standard deviation over seeds, number of seeds in brackets; " +
                          $"{Fmt.Missing} marks a budget not measured yet. Budgets are in epochs; 0 is at initialisation.");
            md.AppendLine();
        }

        foreach (var (size, parameters) in sizes)
        {
            AppendSizeTable(md, size, parameters, cells, budgets, methods);
        }

        AppendThroughput(md, r);
        md.AppendLine($"![accuracy vs budget]({ChartFileName})");
        return md.ToString();
    }

    /// <summary>Accuracy against budget, one panel per size, a line per method with error bars of the std over seeds.</summary>
    public static byte[] ChartPng(BenchmarkReport r, int width = 1400, int height = 900)
    {
        ArgumentNullException.ThrowIfNull(r);
        var cells = Cells(r);
        var sizes = Sizes(cells);
        var budgets = Budgets(cells);
        var methods = Methods.Ordered(cells.Select(c => c.Method));
        var colors = Methods.Colors(methods);
        var legend = methods.Select(m => (m, colors[Methods.Key(m)])).ToList();
        var summaries = Summaries(cells);

        // Budgets sit at evenly spaced categories: on a linear axis 0 and 0.25 would collide next to 10.
        var positions = Enumerable.Range(0, budgets.Count).Select(i => (double)i).ToArray();
        var labels = budgets.Select(Fmt.Budget).ToArray();

        return ChartCanvas.Render(
            width, height, "Test accuracy vs training budget (mean ± std over seeds; WAVE's budget includes stage 2)", legend, sizes.Count,
            (plot, i) =>
            {
                var size = sizes[i].Size;
                var percents = new List<double>();
                for (var m = 0; m < methods.Count; m++)
                {
                    // Nudge methods sideways so overlapping error bars stay apart.
                    var dodge = methods.Count > 1 ? (m - (methods.Count - 1) / 2.0) * 0.06 : 0;
                    var points = summaries
                        .Where(s => s.Size == size && Methods.Key(s.Method) == Methods.Key(methods[m]) && s.Stats.N > 0)
                        .Select(s => (X: budgets.IndexOf(s.Budget) + dodge, Mean: s.Stats.Mean * 100, Std: s.Stats.Std * 100, s.Stats.N))
                        .OrderBy(p => p.X)
                        .ToList();
                    if (points.Count == 0)
                    {
                        continue;
                    }

                    var color = colors[Methods.Key(methods[m])];
                    var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Mean).ToArray(), color);
                    line.LineWidth = 2;
                    line.MarkerSize = 6;

                    var spread = points.Where(p => p.N > 1).ToList();
                    if (spread.Count > 0)
                    {
                        var bars = plot.Add.ErrorBar(
                            spread.Select(p => p.X).ToArray(), spread.Select(p => p.Mean).ToArray(), spread.Select(p => p.Std).ToArray());
                        bars.Color = color;
                        bars.LineWidth = 1.5f;
                        bars.CapSize = 6;
                    }

                    percents.AddRange(points.SelectMany(p => new[] { p.Mean - p.Std, p.Mean + p.Std }));
                }

                plot.Axes.Bottom.TickGenerator = new NumericManual(positions, labels);
                plot.Axes.SetLimitsX(-0.5, Math.Max(0.5, budgets.Count - 0.5));
                var (low, high) = ChartCanvas.PercentLimits(percents);
                plot.Axes.SetLimitsY(low, high);
                plot.Title(size.Label);
                plot.XLabel("budget (epochs)");
                plot.YLabel("test accuracy (%)");
            },
            "No accuracy has been measured yet.");
    }

    private static List<BenchCell> Cells(BenchmarkReport r) => (r.Cells ?? []).Where(c => c is not null).ToList();

    private static List<(SizeKey Size, long Params)> Sizes(IEnumerable<BenchCell> cells) =>
        SizeKey.Ordered(cells.Select(c => (new SizeKey(c.Depth, c.Width, c.Heads), c.Params)));

    private static List<double> Budgets(IEnumerable<BenchCell> cells) =>
        cells.Select(c => BudgetKey(c.BudgetEpochs)).Where(double.IsFinite).Distinct().Order().ToList();

    // Budgets are computed as fractions of an epoch; rounding keeps 0.1 + 0.2 and 0.3 in one column.
    private static double BudgetKey(double epochs) => double.IsFinite(epochs) ? Math.Round(epochs, 6) : double.NaN;

    private sealed record Summary(SizeKey Size, long Params, string Method, double Budget, SeedStats Stats, int Stage2Steps, int Steps);

    private static List<Summary> Summaries(IEnumerable<BenchCell> cells) =>
        cells
            .Where(c => double.IsFinite(c.BudgetEpochs))
            .GroupBy(c => (Size: new SizeKey(c.Depth, c.Width, c.Heads), Method: Methods.Key(c.Method), Budget: BudgetKey(c.BudgetEpochs)))
            .Select(g => new Summary(
                g.Key.Size, g.Max(c => c.Params), g.First().Method, g.Key.Budget, SeedStats.Of(g.Select(c => c.Accuracy)),
                g.First().Stage2Steps, g.First().Steps))
            .OrderBy(s => s.Params)
            .ThenBy(s => s.Size.Depth).ThenBy(s => s.Size.Width).ThenBy(s => s.Size.Heads)
            .ThenBy(s => s.Method, Comparer<string>.Create(Methods.Compare))
            .ThenBy(s => s.Budget)
            .ToList();

    private static void AppendStage1(StringBuilder md, BenchmarkReport r, int sizeCount)
    {
        if (r.Teacher is { } t)
        {
            md.AppendLine(
                $"- Teacher: {new SizeKey(t.Depth, t.Width, t.Heads).Label}, {Fmt.Count(t.Parameters)} parameters ({Fmt.Compact(t.Parameters)}), " +
                $"test accuracy {Fmt.Percent(t.Accuracy)} (digest {Fmt.Code(t.Digest)}).");
        }
        else
        {
            md.AppendLine($"- Teacher: {Fmt.Missing}");
        }

        if (r.Templates is { } tp)
        {
            md.AppendLine(
                $"- Templates: size {tp.TemplateSize}, {Fmt.Count(tp.TemplateParameters)} parameters (digest {Fmt.Code(tp.Digest)}); " +
                $"auxiliary network {new SizeKey(tp.AuxDepth, tp.AuxWidth, tp.AuxHeads).Label} at {Fmt.Percent(tp.AuxAccuracy)} test accuracy; " +
                $"learned in {Fmt.Duration(tp.Seconds)}.");
        }
        else
        {
            md.AppendLine($"- Templates: {Fmt.Missing}");
        }

        var amortised = sizeCount > 0
            ? $"amortised over {sizeCount} sizes = {Fmt.Number(r.Stage1Seconds / sizeCount)} s each"
            : "not yet amortised over any target size";
        md.AppendLine($"- Stage 1 (one-off) took {Fmt.Number(r.Stage1Seconds)} s, {amortised}.");
        md.AppendLine();
    }

    private static void AppendSizeTable(
        StringBuilder md, SizeKey size, long parameters, IReadOnlyList<BenchCell> cells, IReadOnlyList<double> budgets, IReadOnlyList<string> methods)
    {
        var mine = Summaries(cells.Where(c => new SizeKey(c.Depth, c.Width, c.Heads) == size));
        md.AppendLine($"### {size.Label} ({Fmt.Count(parameters)} parameters)");
        md.AppendLine();
        if (budgets.Count == 0)
        {
            md.AppendLine($"{Fmt.Missing} (no budget recorded yet)");
            md.AppendLine();
            return;
        }

        md.AppendLine("| method \\ budget (epochs) | " + string.Join(" | ", budgets.Select(Fmt.Budget)) + " |");
        md.AppendLine("| --- |" + string.Concat(budgets.Select(_ => " ---: |")));
        foreach (var method in methods)
        {
            var row = budgets.Select(b =>
                mine.FirstOrDefault(s => Methods.Key(s.Method) == Methods.Key(method) && s.Budget == b)?.Stats.ToPercentCell() ?? Fmt.Missing);
            md.AppendLine($"| {Fmt.Cell(method)} | {string.Join(" | ", row)} |");
        }

        md.AppendLine();
        var wave = mine.Where(s => Methods.IsWave(s.Method) && s.Budget > 0).ToList();
        if (wave.Count > 0)
        {
            var split = string.Join(
                "; ", wave.Select(s => $"{Fmt.Budget(s.Budget)} = {Fmt.Count(s.Stage2Steps)} stage-2 + {Fmt.Count(s.Steps)} stage-3 steps"));
            md.AppendLine($"WAVE's budgets include its stage-2 (scaler-training) steps: {split}.");
            md.AppendLine();
        }
    }

    private static string Percent(double fraction) => double.IsFinite(fraction) ? Fmt.Number(fraction * 100) + "%" : Fmt.Missing;

    private static void AppendThroughput(StringBuilder md, BenchmarkReport r)
    {
        md.AppendLine("## Throughput");
        md.AppendLine();
        var rows = (r.Throughput ?? []).Where(t => t is not null).ToList();
        var peak = double.IsFinite(r.MatmulPeakGflops) && r.MatmulPeakGflops > 0
            ? $"{Fmt.Number(r.MatmulPeakGflops)} GFLOP/s"
            : Fmt.Missing;
        if (rows.Count == 0)
        {
            md.AppendLine("_No throughput has been measured yet._");
            md.AppendLine();
            return;
        }

        // Since 2026-12-06 each loop is rated against the peak measured around it, so that a machine whose speed drifts
        // during the run (seen here: the same 512 x 512 product at 157 to 186 GFLOP/s within one run) moves both alike.
        bool around = rows.All(t => t.PeakGflops > 0);
        if (around)
        {
            md.AppendLine($"Each loop against the matmul peak measured just before and just after it (the mean of the two); the run's first peak measurement was {peak}.");
            md.AppendLine();
            md.AppendLine("| loop | model | examples/s | GFLOP/s | matmul peak around the loop (GFLOP/s) | % of that peak |");
            md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: |");
        }
        else
        {
            md.AppendLine($"| loop | model | examples/s | GFLOP/s | % of the matmul peak ({peak}, measured in this run) |");
            md.AppendLine("| --- | --- | ---: | ---: | ---: |");
        }

        foreach (var t in rows)
        {
            md.AppendLine(
                $"| {Fmt.Cell(t.Loop)} | {Fmt.Cell(t.Model)} | {Fmt.Number(t.ExamplesPerSecond)} | {Fmt.Number(t.GflopsPerSecond, "0.00")} | " +
                (around ? $"{Fmt.Number(t.PeakGflops)} | " : "") + $"{Percent(t.FractionOfPeak)} |");
        }

        md.AppendLine();
    }
}
