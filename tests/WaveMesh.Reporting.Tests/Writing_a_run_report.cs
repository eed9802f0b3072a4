using System.Text.Json;

namespace WaveMesh.Reporting.Tests;

public sealed class Writing_a_run_report : IDisposable
{
    private const string TableHeader =
        "| target | params | method | accuracy at init | accuracy final | steps (stage 2 + stage 3) | seconds |";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static JsonElement Json(RunReport report)
    {
        using var doc = JsonDocument.Parse(RunReportWriter.ToJson(report));
        return doc.RootElement.Clone();
    }

    private static List<string> TableRows(string markdown) =>
        markdown.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("| L", StringComparison.Ordinal)).ToList();

    [Fact]
    public void Puts_the_run_teacher_and_templates_at_the_top_of_the_json()
    {
        var root = Json(Samples.Run());

        Assert.Equal(Samples.RunId, root.GetProperty("run_id").GetGuid());
        Assert.Equal(Samples.Started, root.GetProperty("started_at").GetDateTime().ToUniversalTime());
        Assert.Equal(4567.8, root.GetProperty("seconds").GetDouble());
        Assert.Equal("preset=tiny seed=7", root.GetProperty("config").GetString());
        var teacher = root.GetProperty("teacher");
        Assert.Equal(21_665_000, teacher.GetProperty("parameters").GetInt64());
        Assert.Equal(0.8531, teacher.GetProperty("accuracy").GetDouble());
        Assert.Equal("teacher-digest", teacher.GetProperty("digest").GetString());
        var templates = root.GetProperty("templates");
        Assert.Equal(123_456, templates.GetProperty("template_parameters").GetInt64());
        Assert.Equal(0.6125, templates.GetProperty("aux_accuracy").GetDouble());
        Assert.Equal(64, templates.GetProperty("aux_width").GetInt32());
    }

    [Fact]
    public void Gives_every_target_all_required_json_keys_with_its_values()
    {
        var run = Samples.Run();

        var targets = Json(run).GetProperty("targets").EnumerateArray().ToList();

        Assert.Equal(run.Targets.Count, targets.Count);
        foreach (var (expected, actual) in run.Targets.Zip(targets))
        {
            Assert.Equal(expected.Depth, actual.GetProperty("depth").GetInt32());
            Assert.Equal(expected.Width, actual.GetProperty("width").GetInt32());
            Assert.Equal(expected.Heads, actual.GetProperty("heads").GetInt32());
            Assert.Equal(expected.Params, actual.GetProperty("params").GetInt64());
            Assert.Equal(expected.Method, actual.GetProperty("method").GetString());
            Assert.Equal(expected.AccuracyAtInit, actual.GetProperty("accuracy_at_init").GetDouble());
            Assert.Equal(expected.AccuracyFinal, actual.GetProperty("accuracy_final").GetDouble());
            Assert.Equal(expected.Steps, actual.GetProperty("steps").GetInt32());
            Assert.Equal(expected.Seconds, actual.GetProperty("seconds").GetDouble());
            Assert.Equal(expected.Stage2Steps, actual.GetProperty("stage2_steps").GetInt32());
            Assert.Equal(expected.Cached, actual.GetProperty("cached").GetBoolean());
            Assert.Equal(
                expected.Curve.Select(p => (p.Step, p.Accuracy)),
                actual.GetProperty("curve").EnumerateArray().Select(p => (p.GetProperty("step").GetInt32(), p.GetProperty("accuracy").GetDouble())));
        }
    }

    [Fact]
    public void Writes_null_and_a_dash_for_an_accuracy_that_is_not_a_number()
    {
        var run = Samples.Run() with { Targets = [Samples.Target(6, 192, 3, 5_500_000, "wave", 0.44, double.NaN, 150, [])] };

        var target = Json(run).GetProperty("targets")[0];
        var row = Assert.Single(TableRows(RunReportWriter.ToMarkdown(run)));

        Assert.Equal(JsonValueKind.Null, target.GetProperty("accuracy_final").ValueKind);
        Assert.Contains("| 44.00% | — |", row);
    }

    [Fact]
    public void Lists_every_target_in_the_markdown_table_with_percentages()
    {
        var markdown = RunReportWriter.ToMarkdown(Samples.Run());
        var rows = TableRows(markdown);

        Assert.Contains(TableHeader, markdown);
        Assert.Equal(5, rows.Count);
        Assert.Contains("| L12 D384 H6 | 21,665,000 | wave | 45.12% | 78.46% | 200 + 1,200 | 61.4 |", rows);
        Assert.Contains("| L12 D384 H6 | 21,665,000 | scratch | 10.03% | 62.15% | 1,200 | 61.4 (cached) |", rows);
        Assert.Contains("| L6 D192 H3 | 5,500,000 | weight_selection | 12.34% | 70.12% | 1,200 | 61.4 |", rows);
    }

    [Fact]
    public void Sorts_the_table_by_params_then_wave_scratch_weight_selection()
    {
        var rows = TableRows(RunReportWriter.ToMarkdown(Samples.Run()));

        var order = rows.Select(r => r.Split('|', StringSplitOptions.TrimEntries)).Select(c => $"{c[1]} {c[3]}");

        Assert.Equal(
            ["L6 D192 H3 wave", "L6 D192 H3 scratch", "L6 D192 H3 weight_selection", "L12 D384 H6 wave", "L12 D384 H6 scratch"],
            order);
    }

    [Fact]
    public void Names_the_winning_method_of_each_size()
    {
        var run = Samples.Run();
        var upset = run with
        {
            Targets = [.. run.Targets.Select(t => t.Method == "weight_selection" ? t with { AccuracyFinal = 0.9 } : t)],
        };

        var markdown = RunReportWriter.ToMarkdown(upset);

        Assert.Contains("- L6 D192 H3: **weight_selection** won with 90.00% (vs wave 73.55%, scratch 60.01%).", markdown);
        Assert.Contains("- L12 D384 H6: **wave** won with 78.46% (vs scratch 62.15%).", markdown);
    }

    [Fact]
    public void Summarises_teacher_templates_and_total_time_and_links_the_chart()
    {
        var markdown = RunReportWriter.ToMarkdown(Samples.Run());

        Assert.StartsWith($"# WaveMesh run {Samples.RunId}", markdown);
        Assert.Contains("The teacher (L12 D384 H6, 21.7M parameters) reached 85.31% test accuracy.", markdown);
        Assert.Contains("hold 123,456 parameters", markdown);
        Assert.Contains("reached 61.25%", markdown);
        Assert.Contains("took 4,567.8 s (1.27 h) in total", markdown);
        Assert.EndsWith("![accuracy](accuracy.png)", markdown.TrimEnd());
    }

    [Fact]
    public void Draws_a_chart_of_the_requested_size_with_a_line_in_every_method_colour()
    {
        var png = Png.Read(RunReportWriter.ChartPng(Samples.Run(), 900, 600));

        Assert.Equal((900, 600), (png.Width, png.Height));
        Assert.True(png.DistinctColors > 50, $"only {png.DistinctColors} colours: the chart looks blank");
        Assert.True(png.ShadesNear("#d62728") > 0, "no wave-red pixels");
        Assert.True(png.ShadesNear("#7f7f7f") > 0, "no scratch-grey pixels");
        Assert.True(png.ShadesNear("#1f77b4") > 0, "no weight_selection-blue pixels");
    }

    [Fact]
    public void Still_draws_a_chart_and_a_table_note_when_no_target_has_finished()
    {
        var empty = Samples.Run() with { Targets = [] };

        var png = Png.Read(RunReportWriter.ChartPng(empty));
        var markdown = RunReportWriter.ToMarkdown(empty);

        Assert.Equal((1200, 800), (png.Width, png.Height));
        Assert.True(png.DistinctColors > 2, "the empty chart should still carry its title and message");
        Assert.Contains("_No target has finished yet._", markdown);
        Assert.Empty(Json(empty).GetProperty("targets").EnumerateArray());
    }

    [Fact]
    public void Charges_wave_for_its_stage2_steps_on_the_chart_x_axis()
    {
        var wave = Samples.Target(12, 384, 6, 21_665_000, "wave", 0.45, 0.80, 200, [new(500, 0.70), new(1200, 0.79)]);
        var scratch = Samples.Target(12, 384, 6, 21_665_000, "scratch", 0.10, 0.60, 0, [new(500, 0.40)]);

        var wavePoints = RunReportWriter.CurveOf(wave);
        var scratchPoints = RunReportWriter.CurveOf(scratch);

        // The last curve point coincides with the final step, where the final accuracy wins.
        Assert.Equal([200.0, 700, 1400], wavePoints.Select(p => p.X));
        Assert.Equal([45.0, 70.0, 80.0], wavePoints.Select(p => Math.Round(p.Y, 6)));
        Assert.Equal([0.0, 500, 1200], scratchPoints.Select(p => p.X));
    }

    [Fact]
    public void Write_creates_json_markdown_and_chart_in_a_new_directory()
    {
        var directory = _folder.PathOf("nested", "run");

        RunReportWriter.Write(Samples.Run(), directory);

        Assert.Equal(
            ["accuracy.png", "report.json", "report.md"],
            Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "report.json")));
        Assert.Equal(5, json.RootElement.GetProperty("targets").GetArrayLength());
        Assert.Contains(TableHeader, File.ReadAllText(Path.Combine(directory, "report.md")));
        var png = Png.Read(File.ReadAllBytes(Path.Combine(directory, "accuracy.png")));
        Assert.Equal((1200, 800), (png.Width, png.Height));
    }
}
