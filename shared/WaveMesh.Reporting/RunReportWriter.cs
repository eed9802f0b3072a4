using System.Text;
using WaveMesh.Reporting.Internal;

namespace WaveMesh.Reporting;

/// <summary>Writes the main job's run report: report.json, report.md and accuracy.png.</summary>
public static class RunReportWriter
{
    public const string JsonFileName = "report.json";
    public const string MarkdownFileName = "report.md";
    public const string ChartFileName = "accuracy.png";

    /// <summary>Writes the three report files into <paramref name="directory"/>, creating it if needed.</summary>
    public static void Write(RunReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);

        Files.WriteText(Path.Combine(directory, JsonFileName), ToJson(report));
        Files.WriteBytes(Path.Combine(directory, ChartFileName), ChartPng(report));
        // The Markdown links the chart, so it goes last: whoever sees it can also see the picture.
        Files.WriteText(Path.Combine(directory, MarkdownFileName), ToMarkdown(report));
    }

    /// <summary>The report as indented snake_case JSON; accuracies stay fractions in 0..1.</summary>
    public static string ToJson(RunReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("run_id", r.RunId);
            w.WriteString("started_at", r.StartedAt);
            Json.Number(w, "seconds", r.Seconds);
            Json.String(w, "config", r.ConfigDescription);
            Json.Teacher(w, r.Teacher);
            Json.Templates(w, r.Templates);
            w.WriteStartArray("targets");
            foreach (var t in Targets(r))
            {
                w.WriteStartObject();
                w.WriteNumber("depth", t.Depth);
                w.WriteNumber("width", t.Width);
                w.WriteNumber("heads", t.Heads);
                w.WriteNumber("params", t.Params);
                Json.String(w, "method", t.Method);
                Json.Number(w, "accuracy_at_init", t.AccuracyAtInit);
                Json.Number(w, "accuracy_final", t.AccuracyFinal);
                w.WriteNumber("steps", t.Steps);
                w.WriteNumber("stage2_steps", t.Stage2Steps);
                Json.Number(w, "seconds", t.Seconds);
                w.WriteStartArray("curve");
                foreach (var p in t.Curve ?? [])
                {
                    w.WriteStartObject();
                    w.WriteNumber("step", p.Step);
                    Json.Number(w, "accuracy", p.Accuracy);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteBoolean("cached", t.Cached);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>A human-readable summary: who taught, what every target reached, and which method won per size.</summary>
    public static string ToMarkdown(RunReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var md = new StringBuilder();
        md.AppendLine($"# WaveMesh run {r.RunId}");
        md.AppendLine();
        md.AppendLine(Summary(r));
        md.AppendLine();

        var targets = Sorted(Targets(r));
        if (targets.Count == 0)
        {
            md.AppendLine("_No target has finished yet._");
        }
        else
        {
            md.AppendLine("| target | params | method | accuracy at init | accuracy final | steps (stage 2 + stage 3) | seconds |");
            md.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
            foreach (var t in targets)
            {
                var seconds = Fmt.Number(t.Seconds) + (t.Cached ? " (cached)" : string.Empty);
                md.AppendLine(
                    $"| {new SizeKey(t.Depth, t.Width, t.Heads).Label} | {Fmt.Count(t.Params)} | {Fmt.Cell(t.Method)} | " +
                    $"{Fmt.Percent(t.AccuracyAtInit)} | {Fmt.Percent(t.AccuracyFinal)} | {StepsCell(t)} | {seconds} |");
            }

            md.AppendLine();
            md.AppendLine("Winner at the final budget of each size (WAVE's budget includes its stage-2 steps):");
            md.AppendLine();
            foreach (var group in targets.GroupBy(t => new SizeKey(t.Depth, t.Width, t.Heads)))
            {
                md.AppendLine($"- {WinnerLine(group.Key, group.ToList())}");
            }
        }

        md.AppendLine();
        md.AppendLine($"![accuracy]({ChartFileName})");
        return md.ToString();
    }

    /// <summary>Accuracy against training steps, one panel per target size and one line per method.</summary>
    public static byte[] ChartPng(RunReport r, int width = 1200, int height = 800)
    {
        ArgumentNullException.ThrowIfNull(r);
        var targets = Targets(r);
        var sizes = SizeKey.Ordered(targets.Select(t => (new SizeKey(t.Depth, t.Width, t.Heads), t.Params)));
        var methods = Methods.Ordered(targets.Select(t => t.Method));
        var colors = Methods.Colors(methods);
        var legend = methods.Select(m => (m, colors[Methods.Key(m)])).ToList();

        return ChartCanvas.Render(
            width, height, "Test accuracy vs training steps (WAVE's steps include stage 2)", legend, sizes.Count,
            (plot, i) =>
            {
                var size = sizes[i].Size;
                var lines = targets
                    .Where(t => new SizeKey(t.Depth, t.Width, t.Heads) == size)
                    .OrderBy(t => t.Method, Comparer<string>.Create(Methods.Compare))
                    .Select(t => (t.Method, Points: CurveOf(t)))
                    .Where(l => l.Points.Count > 0)
                    .ToList();

                foreach (var (method, points) in lines)
                {
                    var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray(), colors[Methods.Key(method)]);
                    line.LineWidth = 2;
                    line.MarkerSize = 5;
                }

                var all = lines.SelectMany(l => l.Points).ToList();
                var maxX = all.Count == 0 ? 0 : all.Max(p => p.X);
                var span = maxX > 0 ? maxX : 1;
                plot.Axes.SetLimitsX(-0.03 * span, maxX + 0.03 * span);
                var (low, high) = ChartCanvas.PercentLimits(all.Select(p => p.Y));
                plot.Axes.SetLimitsY(low, high);
                plot.Title(size.Label);
                plot.XLabel("training steps");
                plot.YLabel("test accuracy (%)");
            },
            "No target has finished yet.");
    }

    /// <summary>
    /// (steps, accuracy %) points of one target: the initialised model, the stage-3 curve, and the final accuracy.
    /// Everything is shifted by the stage-2 steps so WAVE is charged for its scaler training: its initialised
    /// model exists only after them.
    /// </summary>
    internal static List<(double X, double Y)> CurveOf(TargetResult t)
    {
        var shift = Math.Max(0, t.Stage2Steps);
        var byStep = new SortedDictionary<double, double>();

        void Add(double x, double accuracy)
        {
            if (double.IsFinite(accuracy))
            {
                byStep[x] = accuracy * 100;
            }
        }

        Add(shift, t.AccuracyAtInit);
        foreach (var p in (t.Curve ?? []).OrderBy(p => p.Step))
        {
            Add(p.Step + shift, p.Accuracy);
        }

        // Added last so that it wins over a curve point measured at the very same step.
        Add(shift + Math.Max(0, t.Steps), t.AccuracyFinal);
        return byStep.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    private static IReadOnlyList<TargetResult> Targets(RunReport r) =>
        (r.Targets ?? []).Where(t => t is not null).ToList();

    private static List<TargetResult> Sorted(IEnumerable<TargetResult> targets) =>
        targets
            .OrderBy(t => t.Params)
            .ThenBy(t => t.Depth)
            .ThenBy(t => t.Width)
            .ThenBy(t => t.Heads)
            .ThenBy(t => t.Method, Comparer<string>.Create(Methods.Compare))
            .ToList();

    private static string StepsCell(TargetResult t) =>
        t.Stage2Steps > 0 ? $"{Fmt.Count(t.Stage2Steps)} + {Fmt.Count(t.Steps)}" : Fmt.Count(t.Steps);

    private static string Summary(RunReport r)
    {
        var parts = new List<string>();
        if (r.Teacher is { } teacher)
        {
            parts.Add(
                $"The teacher ({new SizeKey(teacher.Depth, teacher.Width, teacher.Heads).Label}, {Fmt.Compact(teacher.Parameters)} parameters) " +
                $"reached {Fmt.Percent(teacher.Accuracy)} test accuracy.");
        }

        if (r.Templates is { } templates)
        {
            parts.Add(
                $"The WAVE templates (size {templates.TemplateSize}) hold {Fmt.Count(templates.TemplateParameters)} parameters; " +
                $"the auxiliary network ({new SizeKey(templates.AuxDepth, templates.AuxWidth, templates.AuxHeads).Label}) that learned them " +
                $"reached {Fmt.Percent(templates.AuxAccuracy)}.");
        }

        parts.Add($"The run started {Fmt.Date(r.StartedAt)} and took {Fmt.Duration(r.Seconds)} in total.");
        var config = string.IsNullOrWhiteSpace(r.ConfigDescription) ? string.Empty : $"\n\nConfiguration: {Fmt.Code(r.ConfigDescription)}";
        return string.Join(" ", parts) + config;
    }

    private static string WinnerLine(SizeKey size, IReadOnlyList<TargetResult> group)
    {
        var finished = group.Where(t => double.IsFinite(t.AccuracyFinal)).ToList();
        if (finished.Count == 0)
        {
            return $"{size.Label}: no final accuracy yet.";
        }

        var best = finished.Max(t => t.AccuracyFinal);
        var winners = Methods.Ordered(finished.Where(t => t.AccuracyFinal == best).Select(t => t.Method));
        var others = finished
            .Where(t => t.AccuracyFinal != best)
            .OrderBy(t => t.Method, Comparer<string>.Create(Methods.Compare))
            .Select(t => $"{t.Method} {Fmt.Percent(t.AccuracyFinal)}")
            .ToList();

        if (finished.Count == 1)
        {
            return $"{size.Label}: only **{finished[0].Method}** ran ({Fmt.Percent(best)}).";
        }

        var head = winners.Count == 1
            ? $"{size.Label}: **{winners[0]}** won with {Fmt.Percent(best)}"
            : $"{size.Label}: tie between {string.Join(" and ", winners.Select(w => $"**{w}**"))} at {Fmt.Percent(best)}";
        return others.Count == 0 ? head + "." : $"{head} (vs {string.Join(", ", others)}).";
    }
}
