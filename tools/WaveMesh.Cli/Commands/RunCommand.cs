using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using WaveMesh.Artifacts;
using WaveMesh.Embedded;
using WaveMesh.Pipeline;
using WaveMesh.Reporting;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh run</c>: the main job on the embedded default. Teacher, templates, then for every target size scalers,
/// stage 3 and evaluation next to the baselines; every finished artifact is cached by content, so a second run reuses
/// them and an interrupted one resumes.
/// </summary>
static class RunCommand
{
    public static readonly Option<FileInfo?> Config = new("--config") { Description = "Run configuration (YAML); default: configs/default.yaml's settings" };
    public static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Folder for report.json, report.md and accuracy.png", DefaultValueFactory = _ => new DirectoryInfo("out/run") };
    public static readonly Option<DirectoryInfo> Store = new("--store") { Description = "Artifact store (cache) folder", DefaultValueFactory = _ => new DirectoryInfo(".wavemesh/store") };
    static readonly Option<FileInfo?> Teacher = new("--teacher") { Description = "Teacher checkpoint (safetensors, timm names); overrides teacher.file" };
    static readonly Option<bool> Dashboard = new("--dashboard") { Description = "Serve the live dashboard while the run goes (and after it, until Ctrl-C)" };
    static readonly Option<int> Port = new("--port") { Description = "Dashboard port on 127.0.0.1", DefaultValueFactory = _ => 5090 };

    public static Command Create()
    {
        var command = new Command("run", "Run the whole WAVE pipeline in this process and write a report") { Config, Out, Store, Teacher, Dashboard, Port };
        CliContext.AddEngineOptions(command);
        command.SetAction((parse, _) => Run(parse));
        return command;
    }

    /// <summary>The configuration, every problem reported before any work starts.</summary>
    public static RunConfig LoadConfig(ParseResult parse)
    {
        var file = parse.GetValue(Config);
        var config = file is null ? RunConfig.Default : RunConfig.Load(file.FullName);
        if (parse.GetValue(Teacher) is { } teacher) config = config with { Teacher = config.Teacher with { File = teacher.FullName } };
        if (parse.GetValue(CliContext.Data) is { } data) config = config with { Pipeline = config.Pipeline with { Data = config.Pipeline.Data with { Path = data } } };
        return config;
    }

    /// <summary>Fails early, with a clear message, when a folder cannot be written.</summary>
    public static void EnsureWritable(DirectoryInfo dir, string what)
    {
        try
        {
            dir.Create();
            var probe = Path.Combine(dir.FullName, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliUsageException($"cannot write the {what} folder {dir.FullName}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    public static StageContext Context(ParseResult parse, DirectoryInfo store, TorchSharp.torch.Device device) => new()
    {
        Store = new FileArtifactStore(store.FullName),
        Datasets = new Datasets(),
        Device = device,
        Worker = "embedded",
        WorkDirectory = Path.Combine(store.FullName, "work"),
    };

    static async Task<int> Run(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        var config = LoadConfig(parse);
        var outDir = parse.GetValue(Out)!;
        var storeDir = parse.GetValue(Store)!;
        EnsureWritable(outDir, "output");
        EnsureWritable(storeDir, "artifact store");
        var (device, _) = CliContext.Engine(parse);
        var p = config.Pipeline;
        Console.WriteLine($"WaveMesh run: {p.Targets.Count} target sizes ({string.Join(", ", p.Targets)}), methods {string.Join(", ", p.Methods.Select(m => m.Method))}");
        Console.WriteLine($"Artifacts cached in {storeDir.FullName}; report to {outDir.FullName}");

        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var progress = new ConsoleProgress();
        await using var host = new EmbeddedHost(Context(parse, storeDir, device));
        host.Failed += (message, e) => progress.Line($"wavemesh: internal error handling {message.GetType().Name}: {e.Message}");
        using var display = new RunDisplay(progress).Attach(host.Events);
        await using var dashboard = parse.GetValue(Dashboard) ? await DashboardServer.StartAsync(host.Ledger, parse.GetValue(Port)) : null;
        if (dashboard is not null) Console.WriteLine($"Dashboard: {dashboard.Url}");

        var runId = Guid.NewGuid();
        var teacher = await host.PrepareTeacherAsync(config.Teacher, p, runId, ct);
        var state = await host.RunAsync(p, teacher, ct);
        await Task.Delay(100, ct);   // let the display print the last events

        var description = parse.GetValue(Config)?.FullName ?? "built-in default (configs/default.yaml)";
        var report = RunReportBuilder.Build(state, started, clock.Elapsed.TotalSeconds, description);
        RunReportWriter.Write(report, outDir.FullName);
        PrintResults(report, state);
        Console.WriteLine($"Report: {Path.Combine(outDir.FullName, "report.md")} (+ report.json, accuracy.png); {ConsoleProgress.Format(clock.Elapsed)} in all");
        foreach (var f in state.Failures) Console.Error.WriteLine($"wavemesh: error: {f.Description} failed: {f.Reason}");
        if (dashboard is not null)
        {
            Console.WriteLine($"Dashboard still at {dashboard.Url}; press Ctrl-C to stop.");
            try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
        }
        return state.Failures.Count == 0 ? 0 : CliErrors.UserError;
    }

    static void PrintResults(RunReport report, RunState state)
    {
        Console.WriteLine();
        Console.WriteLine($"Teacher {report.Teacher.Depth}x{report.Teacher.Width}x{report.Teacher.Heads}: {report.Teacher.Accuracy:P2}; " +
                          $"templates {report.Templates.TemplateParameters:N0} parameters, auxiliary model {report.Templates.AuxAccuracy:P2}");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("target").AddColumn(new TableColumn("params").RightAligned()).AddColumn("method")
            .AddColumn(new TableColumn("at init").RightAligned()).AddColumn(new TableColumn("final").RightAligned())
            .AddColumn(new TableColumn("steps (stage 2 + 3)").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var t in report.Targets)
            table.AddRow($"L{t.Depth} D{t.Width} H{t.Heads}", t.Params.ToString("N0"), t.Method, $"{t.AccuracyAtInit:P2}", $"{t.AccuracyFinal:P2}",
                t.Stage2Steps > 0 ? $"{t.Stage2Steps} + {t.Steps}" : $"{t.Steps}", t.Cached ? "cached" : $"{t.Seconds:F0}");
        AnsiConsole.Write(table);
        foreach (var (target, method) in state.NotApplicable)
            Console.WriteLine($"  ({method} does not apply to {target}: it needs a target no larger than the teacher)");
    }
}
