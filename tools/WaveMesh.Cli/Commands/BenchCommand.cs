using System.CommandLine;
using System.Globalization;
using System.Text;
using WaveMesh.Benchmarks;
using WaveMesh.Contracts;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Reporting;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh bench</c>: WAVE against scratch and weight selection over a grid of sizes, seeds and stage-3 budgets,
/// resumable cell by cell and selectable in parts; writes results.md, results.json and a chart, and measures the
/// training loops' throughput against the matmul peak of the same run.
/// </summary>
static class BenchCommand
{
    static readonly Option<FileInfo> Config = new("--config") { Description = "Benchmark configuration", DefaultValueFactory = _ => new FileInfo("benchmarks/bench.yaml") };
    static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Results folder (cells/ inside it make the benchmark resumable)", DefaultValueFactory = _ => new DirectoryInfo("benchmarks/results") };
    static readonly Option<string?> Sizes = new("--sizes") { Description = "Comma-separated sizes LxDxH (default: the configuration's targets)" };
    static readonly Option<string?> MethodsOption = new("--methods") { Description = "Comma-separated methods (default: the configuration's)" };
    static readonly Option<string> Seeds = new("--seeds") { Description = "Seeds for budgets up to 1 epoch", DefaultValueFactory = _ => "0,1,2" };
    static readonly Option<string> LongSeeds = new("--long-seeds") { Description = "Seeds for budgets above 1 epoch", DefaultValueFactory = _ => "0" };
    static readonly Option<string> Budgets = new("--budgets") { Description = "Stage-3 budgets in epochs (0 = at initialisation)", DefaultValueFactory = _ => "0,0.25,1,3,10" };
    static readonly Option<string?> LearningRates = new("--learning-rates") { Description = "Stage-3 learning rates to sweep (default: the configuration's per method)" };
    static readonly Option<bool> NoThroughput = new("--no-throughput") { Description = "Skip the throughput measurement" };
    static readonly Option<bool> ReportOnly = new("--report-only") { Description = "Only rewrite the report from the finished cells (reads the teacher and templates from --store; trains nothing)" };

    public static Command Create()
    {
        var command = new Command("bench", "Benchmark WAVE against its alternatives (resumable; select parts with the options)")
        {
            Config, Out, RunCommand.Store, Sizes, MethodsOption, Seeds, LongSeeds, Budgets, LearningRates, NoThroughput, ReportOnly,
        };
        CliContext.AddEngineOptions(command);
        command.SetAction((parse, _) => Run(parse));
        return command;
    }

    static List<T> ParseList<T>(string? text, string option, Func<string, T?> parse) where T : struct =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => parse(x) ?? throw new CliUsageException($"{option}: '{x}' is not valid")).ToList();

    static double? Number(string x) => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0 ? d : null;
    static long? Whole(string x) => long.TryParse(x, out var l) ? l : null;

    static async Task<int> Run(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        var config = RunConfig.Load(parse.GetValue(Config)!.FullName);
        if (parse.GetValue(CliContext.Data) is { } data) config = config with { Pipeline = config.Pipeline with { Data = config.Pipeline.Data with { Path = data } } };
        var p = config.Pipeline;
        var sizes = parse.GetValue(Sizes) is { } s
            ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => ModelSize.TryParse(x, out var m) ? m : throw new CliUsageException($"--sizes: '{x}' is not a size LxDxH")).ToList()
            : p.Targets.ToList();
        foreach (var size in sizes)
            if (size.Width % p.Templates.Size != 0 || size.Width % size.Heads != 0)
                throw new CliUsageException($"--sizes: {size} needs a width that is a multiple of the template size {p.Templates.Size} and of its heads");
        var methods = parse.GetValue(MethodsOption) is { } m2
            ? m2.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
            : p.Methods.Select(x => x.Method).ToList();
        foreach (var method in methods)
            if (!p.Methods.Any(x => x.Method == method)) throw new CliUsageException($"--methods: '{method}' is not one of {string.Join(", ", p.Methods.Select(x => x.Method))}");
        var seeds = ParseList(parse.GetValue(Seeds), "--seeds", Whole);
        var longSeeds = ParseList(parse.GetValue(LongSeeds), "--long-seeds", Whole);
        var budgets = ParseList(parse.GetValue(Budgets), "--budgets", Number);
        var sweep = parse.GetValue(LearningRates) is { } lrs ? ParseList(lrs, "--learning-rates", Number) : null;
        double Configured(string method) => p.Methods.Single(x => x.Method == method).Training.LearningRate;

        var outDir = parse.GetValue(Out)!;
        var storeDir = parse.GetValue(RunCommand.Store)!;
        RunCommand.EnsureWritable(outDir, "results");
        RunCommand.EnsureWritable(storeDir, "artifact store");
        var (device, _) = CliContext.Engine(parse);
        var context = RunCommand.Context(parse, storeDir, device);
        var progress = new ConsoleProgress();
        var runner = new BenchmarkRunner(new StageRunner(context, StageRunner.AllStages()), config, outDir.FullName,
            e => progress.Show(e.Description, e.Step, e.Steps, e.Loss, e.ExamplesPerSecond, TimeSpan.FromSeconds(e.ElapsedSeconds)),
            line => progress.Line("  " + line)) { StoredOnly = parse.GetValue(ReportOnly) };
        var command = "./wavemesh bench " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2));

        var throughputFile = Path.Combine(outDir.FullName, "throughput.json");
        if (!parse.GetValue(ReportOnly) && !parse.GetValue(NoThroughput))
        {
            Console.WriteLine("Measuring the matmul peak and the training loops' throughput...");
            var trainingData = context.Datasets.Load(p.Data);
            double peak = Throughput.MatmulPeak();
            var rows = Throughput.Loops(trainingData.Train, trainingData.Normalization, device);
            await File.WriteAllTextAsync(throughputFile, ContractJson.Serialize(new ThroughputResult(peak, rows)), ct);
            foreach (var r in rows) Console.WriteLine($"  {r.Loop}: {r.ExamplesPerSecond:F0} img/s, {r.GflopsPerSecond:F1} GFLOP/s = {r.FractionOfPeak:P0} of {r.PeakGflops:F0} (the peak around it)");
            Console.WriteLine("Profiling the training steps...");
            await File.WriteAllTextAsync(Path.Combine(outDir.FullName, StepProfile.MarkdownFileName),
                StepProfile.Report(trainingData.Train, trainingData.Normalization, device, peak), ct);
        }

        if (!parse.GetValue(ReportOnly))
        {
            var teacherSize = await runner.TeacherSizeAsync(ct);
            var all = BenchmarkRunner.Plan(sizes, methods, seeds, budgets, longSeeds, m => sweep ?? [Configured(m)]).ToList();
            var cells = all.Where(c => c.Method != Methods.WeightSelection || BenchmarkRunner.WeightSelectionApplies(teacherSize, c.Size)).ToList();
            foreach (var size in all.Except(cells).Select(c => c.Size).Distinct())
                Console.WriteLine($"  weight selection skipped for {size}: it needs a target no larger than the teacher {teacherSize}");
            Console.WriteLine($"{cells.Count} cells ({sizes.Count} sizes x {methods.Count} methods x budgets {string.Join("/", budgets)}); finished ones are skipped");
            for (int i = 0; i < cells.Count; i++)
            {
                var cell = cells[i];
                var result = await runner.RunCellAsync(cell, ct);
                progress.Line($"  cell {i + 1}/{cells.Count} {cell.Size} {cell.Method} seed {cell.Seed} budget {cell.Budget} lr {cell.LearningRate}: " +
                              $"{result.Cell.Accuracy:P2}{(result.Cached ? " (done earlier)" : $" ({result.Cell.Seconds:F0} s)")}");
                await WriteReport(runner, config, outDir, throughputFile, command, Configured, ct);
            }
        }
        await WriteReport(runner, config, outDir, throughputFile, command, Configured, ct);
        Console.WriteLine($"Results: {Path.Combine(outDir.FullName, BenchmarkReportWriter.MarkdownFileName)}");
        return 0;
    }

    sealed record ThroughputResult(double Peak, IReadOnlyList<ThroughputRow> Rows);

    static async Task WriteReport(BenchmarkRunner runner, RunConfig config, DirectoryInfo outDir, string throughputFile, string command,
        Func<string, double> configured, CancellationToken ct)
    {
        var (teacher, teacherAccuracy) = await runner.TeacherAsync(ct);
        var templates = config.Pipeline.Methods.Any(m => m.Method == Methods.Wave) ? await runner.TemplatesAsync(ct) : null;
        var stored = runner.StoredCells();
        var main = stored.Where(c => c.LearningRate == configured(c.Cell.Method)).Select(c => c.Cell).ToList();
        var throughput = File.Exists(throughputFile) ? ContractJson.Deserialize<ThroughputResult>(await File.ReadAllTextAsync(throughputFile, ct)) : null;
        var t = config.Teacher.Size;
        var teacherSpec = ModelMapping.Spec(config.Pipeline.Family, t);
        var a = config.Pipeline.Auxiliary;
        var report = new BenchmarkReport(command, DateTime.UtcNow, $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
            new TeacherSummary(teacher, t.Depth, t.Width, t.Heads, teacherSpec.ParameterCount, teacherAccuracy),
            new TemplatesSummary(templates?.TemplatesDigest ?? "", config.Pipeline.Templates.Size, templates?.TemplateParameters ?? 0, a.Depth, a.Width, a.Heads,
                templates?.AuxAccuracy ?? double.NaN, templates?.Stats.Seconds ?? 0),
            templates?.Stats.Seconds ?? 0, main, Claims.Evaluate(main, teacherAccuracy, templates?.AuxAccuracy ?? double.NaN, t), throughput?.Peak ?? double.NaN, throughput?.Rows ?? []);
        BenchmarkReportWriter.Write(report, outDir.FullName);

        var swept = stored.Where(c => c.LearningRate != configured(c.Cell.Method)).ToList();
        if (swept.Count > 0) await File.WriteAllTextAsync(Path.Combine(outDir.FullName, "lr-sweep.md"), SweepTable(stored), ct);
    }

    /// <summary>Mean accuracy per (size, method, budget) and learning rate: how the stage-3 learning rates were chosen.</summary>
    static string SweepTable(IReadOnlyList<StoredCell> cells)
    {
        var sb = new StringBuilder("# Stage-3 learning-rate sweep\n\n| size | method | budget (epochs) | learning rate | accuracy (mean over seeds) | seeds |\n|---|---|---:|---:|---:|---:|\n");
        foreach (var g in cells.GroupBy(c => (c.Cell.Depth, c.Cell.Width, c.Cell.Heads, c.Cell.Method, c.Cell.BudgetEpochs, c.LearningRate))
                     .OrderBy(g => g.Key.Depth).ThenBy(g => g.Key.Width).ThenBy(g => g.Key.Method).ThenBy(g => g.Key.BudgetEpochs).ThenBy(g => g.Key.LearningRate))
            sb.Append(CultureInfo.InvariantCulture, $"| L{g.Key.Depth} D{g.Key.Width} H{g.Key.Heads} | {g.Key.Method} | {g.Key.BudgetEpochs:0.##} | {g.Key.LearningRate:G3} | {g.Average(c => c.Cell.Accuracy) * 100:F2}% | {g.Count()} |\n");
        return sb.ToString();
    }
}
