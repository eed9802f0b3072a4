using System.Text.Json;

namespace WaveMesh.Reporting.Tests;

public sealed class Writing_a_benchmark_report : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>The cells of one method's row in one size's table, budget columns only.</summary>
    private static string[] Row(string markdown, string size, string method)
    {
        var lines = markdown.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var start = lines.FindIndex(l => l.StartsWith($"### {size} ", StringComparison.Ordinal));
        Assert.True(start >= 0, $"no table for {size}");
        var row = lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("#", StringComparison.Ordinal))
            .Single(l => l.StartsWith($"| {method} |", StringComparison.Ordinal));
        return row.Split('|', StringSplitOptions.TrimEntries)[2..^1];
    }

    [Fact]
    public void Shows_the_mean_and_sample_std_over_three_seeds_in_percent()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Equal(Enumerable.Repeat("82.00 ± 2.00 (3)", 5), Row(markdown, "L6 D192 H3", "wave"));
    }

    [Fact]
    public void Shows_a_single_seed_as_its_value_with_n_equal_one()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Equal(["15.00 (n=1)", "16.25 (n=1)", "20.00 (n=1)", "30.00 (n=1)", "65.00 (n=1)"], Row(markdown, "L6 D192 H3", "weight_selection"));
    }

    [Fact]
    public void Marks_budgets_not_yet_measured_with_a_dash()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Equal("—", Row(markdown, "L6 D192 H3", "scratch")[^1]);
        Assert.Equal("11.00 ± 1.00 (3)", Row(markdown, "L6 D192 H3", "scratch")[0]);
        Assert.All(Row(markdown, "L12 D384 H6", "scratch"), cell => Assert.Equal("—", cell));
        Assert.Equal("50.00 (n=1)", Row(markdown, "L12 D384 H6", "wave")[0]);
    }

    [Fact]
    public void Uses_the_budgets_in_epochs_as_columns_and_orders_sizes_by_params()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Contains("| method \\ budget (epochs) | 0 | 0.25 | 1 | 3 | 10 |", markdown);
        Assert.True(
            markdown.IndexOf("### L6 D192 H3 (5,500,000 parameters)", StringComparison.Ordinal) <
            markdown.IndexOf("### L12 D384 H6 (21,665,000 parameters)", StringComparison.Ordinal));
    }

    [Fact]
    public void Notes_that_wave_budgets_include_its_stage2_steps()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Contains("WAVE's budgets include its stage-2 (scaler-training) steps: 0.25 = 40 stage-2 + 100 stage-3 steps; 1 = 40 stage-2 + 400 stage-3 steps;", markdown);
    }

    [Fact]
    public void Ticks_met_claims_and_leaves_unmet_ones_open()
    {
        var claims = new[]
        {
            new Claim("WAVE beats scratch at 1 epoch on every size", true, "82.00 vs 16.00"),
            new Claim("WAVE within 1 point of the teacher", false, "82.00 vs 85.31"),
        };

        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells(), claims));

        Assert.Contains("- [x] WAVE beats scratch at 1 epoch on every size — 82.00 vs 16.00", markdown);
        Assert.Contains("- [ ] WAVE within 1 point of the teacher — 82.00 vs 85.31", markdown);
        Assert.True(markdown.IndexOf("## Targets", StringComparison.Ordinal) < markdown.IndexOf("- [x]", StringComparison.Ordinal));
    }

    [Fact]
    public void States_provenance_and_amortises_stage1_over_the_measured_sizes()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells()));

        Assert.Contains("Produced by `wavemesh bench --sizes small` on 2026-03-14 15:09 UTC, machine: 2 cores, 24 GiB.", markdown);
        Assert.Contains("- Teacher: L12 D384 H6, 21,665,000 parameters (21.7M), test accuracy 85.31%", markdown);
        Assert.Contains("- Templates: size 4, 123,456 parameters", markdown);
        Assert.Contains("- Stage 1 (one-off) took 900.0 s, amortised over 2 sizes = 450.0 s each.", markdown);
        Assert.EndsWith("![accuracy vs budget](accuracy-vs-budget.png)", markdown.TrimEnd());
    }

    [Fact]
    public void Reports_throughput_against_the_matmul_peak_of_the_same_run()
    {
        var rows = new[] { new ThroughputRow("train", "L12 D384 H6", 123.45, 20.1, 0.3622) };

        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(Samples.FullCells(), throughput: rows));

        Assert.Contains("| loop | model | examples/s | GFLOP/s | % of the matmul peak (55.5 GFLOP/s, measured in this run) |", markdown);
        Assert.Contains("| train | L12 D384 H6 | 123.5 | 20.10 | 36.2% |", markdown);
    }

    [Fact]
    public void Rates_each_loop_against_the_peak_measured_around_it_when_every_row_has_one()
    {
        var rows = new[]
        {
            new ThroughputRow("stage 3", "L6 D128 H4", 850, 105.0, 105.0 / 180, 180),
            new ThroughputRow("stage 2", "L6 D160 H5", 640, 120.0, 120.0 / 200, 200),
        };
        var report = Samples.Bench(Samples.FullCells(), throughput: rows);

        var markdown = BenchmarkReportWriter.ToMarkdown(report);
        using var json = JsonDocument.Parse(BenchmarkReportWriter.ToJson(report));

        Assert.Contains("| loop | model | examples/s | GFLOP/s | matmul peak around the loop (GFLOP/s) | % of that peak |", markdown);
        Assert.Contains("| stage 3 | L6 D128 H4 | 850.0 | 105.00 | 180.0 | 58.3% |", markdown);
        Assert.Contains("| stage 2 | L6 D160 H5 | 640.0 | 120.00 | 200.0 | 60.0% |", markdown);
        Assert.DoesNotContain("measured in this run) |", markdown);
        var second = json.RootElement.GetProperty("throughput")[1];
        Assert.Equal(200, second.GetProperty("peak_gflops").GetDouble());
        Assert.Equal(0.6, second.GetProperty("fraction_of_peak").GetDouble(), 6);
    }

    [Fact]
    public void Writes_every_cell_and_the_seed_summary_into_snake_case_json()
    {
        var cells = Samples.FullCells();

        using var json = JsonDocument.Parse(BenchmarkReportWriter.ToJson(Samples.Bench(cells)));
        var root = json.RootElement;

        Assert.Equal(cells.Count, root.GetProperty("cells").GetArrayLength());
        Assert.Equal(900, root.GetProperty("stage1_seconds").GetDouble());
        Assert.Equal(55.5, root.GetProperty("matmul_peak_gflops").GetDouble());
        var first = root.GetProperty("cells")[0];
        Assert.Equal("wave", first.GetProperty("method").GetString());
        Assert.Equal(0.80, first.GetProperty("accuracy").GetDouble());
        Assert.Equal(0, first.GetProperty("budget_epochs").GetDouble());
        var waveAtOneEpoch = root.GetProperty("summary").EnumerateArray().Single(s =>
            s.GetProperty("method").GetString() == "wave" && s.GetProperty("depth").GetInt32() == 6 && s.GetProperty("budget_epochs").GetDouble() == 1);
        Assert.Equal(3, waveAtOneEpoch.GetProperty("n").GetInt32());
        Assert.Equal(0.82, waveAtOneEpoch.GetProperty("mean_accuracy").GetDouble(), 9);
        Assert.Equal(0.02, waveAtOneEpoch.GetProperty("std_accuracy").GetDouble(), 9);
    }

    [Fact]
    public void Draws_a_chart_of_the_requested_size_with_a_line_in_every_method_colour()
    {
        var png = Png.Read(BenchmarkReportWriter.ChartPng(Samples.Bench(Samples.FullCells())));

        Assert.Equal((1400, 900), (png.Width, png.Height));
        Assert.True(png.DistinctColors > 50, $"only {png.DistinctColors} colours: the chart looks blank");
        Assert.True(png.ShadesNear("#d62728") > 0, "no wave-red pixels");
        Assert.True(png.ShadesNear("#7f7f7f") > 0, "no scratch-grey pixels");
        Assert.True(png.ShadesNear("#1f77b4") > 0, "no weight_selection-blue pixels");
    }

    public static TheoryData<string> PartialReports => ["no cells", "one budget only", "accuracy not a number", "no teacher or templates", "no lists"];

    private static BenchmarkReport Partial(string name) => name switch
    {
        "no cells" => Samples.Bench([]),
        "one budget only" => Samples.Bench([Samples.Cell("scratch", 0, 1, 0.3)]),
        "accuracy not a number" => Samples.Bench([Samples.Cell("wave", 0, 1, double.NaN), Samples.Cell("wave", 1, 0, 0.5)]),
        "no teacher or templates" => Samples.Bench(Samples.FullCells()) with { Teacher = null!, Templates = null!, Stage1Seconds = double.NaN },
        "no lists" => Samples.Bench([]) with { Cells = null!, Claims = null!, Throughput = null! },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(PartialReports))]
    public void Writes_all_three_files_from_partial_data_without_throwing(string name)
    {
        var directory = _folder.PathOf(name.Replace(' ', '-'));

        BenchmarkReportWriter.Write(Partial(name), directory);

        Assert.Equal(
            ["accuracy-vs-budget.png", "results.json", "results.md"],
            Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.StartsWith("# WaveMesh benchmark results", File.ReadAllText(Path.Combine(directory, "results.md")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "results.json")));
        Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
        var png = Png.Read(File.ReadAllBytes(Path.Combine(directory, "accuracy-vs-budget.png")));
        Assert.Equal((1400, 900), (png.Width, png.Height));
    }

    [Fact]
    public void Says_what_is_missing_when_nothing_was_measured_yet()
    {
        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench([]));

        Assert.Contains("_No target has been evaluated yet._", markdown);
        Assert.Contains("_No accuracy has been measured yet._", markdown);
        Assert.Contains("_No throughput has been measured yet._", markdown);
        Assert.Contains("- Stage 1 (one-off) took 900.0 s, not yet amortised over any target size.", markdown);
    }

    [Fact]
    public void Ignores_a_seed_whose_accuracy_is_not_a_number()
    {
        var cells = new[] { Samples.Cell("wave", 0, 1, 0.80), Samples.Cell("wave", 1, 1, double.NaN), Samples.Cell("wave", 2, 1, 0.84) };

        var markdown = BenchmarkReportWriter.ToMarkdown(Samples.Bench(cells));

        Assert.Equal(["82.00 ± 2.83 (2)"], Row(markdown, "L6 D192 H3", "wave"));
    }
}
