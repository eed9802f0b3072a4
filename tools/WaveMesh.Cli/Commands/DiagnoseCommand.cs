using System.CommandLine;
using System.Globalization;
using WaveMesh.Benchmarks;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Pipeline;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh diagnose</c>: one size's models from every method of a configuration next to the teacher: accuracy,
/// cross-entropy and confidence at initialisation, RMS per tensor kind, and how far each kind moves in the first
/// stage-3 steps of each method's own schedule. Uses (and fills) the same artifact store as <c>bench</c>.
/// </summary>
static class DiagnoseCommand
{
    static readonly Option<FileInfo> Config = new("--config") { Description = "Configuration (the benchmark's by default)", DefaultValueFactory = _ => new FileInfo("benchmarks/bench.yaml") };
    static readonly Option<string> Size = new("--size") { Description = "Target size LxDxH", Required = true };
    static readonly Option<int> Steps = new("--steps") { Description = "Stage-3 steps to take before measuring again", DefaultValueFactory = _ => 20 };
    static readonly Option<double> Budget = new("--budget") { Description = "Stage-3 budget in epochs whose schedule the steps follow", DefaultValueFactory = _ => 1.0 };
    static readonly Option<FileInfo?> Out = new("--out") { Description = "Markdown file to write (default: benchmarks/results/diagnosis-SIZE.md)" };

    public static Command Create()
    {
        var command = new Command("diagnose", "Compare one size's initialisations by method: fit, weight scale, and movement in the first stage-3 steps")
        {
            Config, Size, Steps, Budget, Out, RunCommand.Store,
        };
        CliContext.AddEngineOptions(command);
        command.SetAction((parse, _) => Run(parse));
        return command;
    }

    static async Task<int> Run(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        var config = RunConfig.Load(parse.GetValue(Config)!.FullName);
        if (parse.GetValue(CliContext.Data) is { } dataPath) config = config with { Pipeline = config.Pipeline with { Data = config.Pipeline.Data with { Path = dataPath } } };
        var p = config.Pipeline;
        if (!ModelSize.TryParse(parse.GetValue(Size)!, out var size) || size.Width % p.Templates.Size != 0 || size.Width % size.Heads != 0)
            throw new CliUsageException($"--size: '{parse.GetValue(Size)}' must be LxDxH with a width that is a multiple of the template size {p.Templates.Size} and of its heads");
        int steps = parse.GetValue(Steps);
        if (steps < 1) throw new CliUsageException("--steps: must be at least 1");
        var storeDir = parse.GetValue(RunCommand.Store)!;
        RunCommand.EnsureWritable(storeDir, "artifact store");
        var outFile = parse.GetValue(Out) ?? new FileInfo(Path.Combine("benchmarks", "results", $"diagnosis-{size.Slug}.md"));
        RunCommand.EnsureWritable(outFile.Directory!, "output");
        var (device, engine) = CliContext.Engine(parse);
        var context = RunCommand.Context(parse, storeDir, device);
        var progress = new ConsoleProgress();
        var runner = new BenchmarkRunner(new StageRunner(context, StageRunner.AllStages()), config, Path.GetTempPath(),
            e => progress.Show(e.Description, e.Step, e.Steps, e.Loss, e.ExamplesPerSecond, TimeSpan.FromSeconds(e.ElapsedSeconds)),
            line => progress.Line("  " + line));

        var (teacherDigest, _) = await runner.TeacherAsync(ct);
        var teacherSize = await runner.TeacherSizeAsync(ct);
        var subjects = new List<Diagnosis.Subject>();
        try
        {
            subjects.Add(new("teacher", ModelFile.Load(await context.Store.GetFileAsync(teacherDigest, ct), device), null, Data.Augmentation.None));
            int budgetSteps = (int)Math.Round(parse.GetValue(Budget) * 60_000 / 128);
            foreach (var plan in p.Methods)
            {
                if (plan.Method == Methods.WeightSelection && !BenchmarkRunner.WeightSelectionApplies(teacherSize, size)) continue;
                var digest = await runner.InitialModelAsync(size, plan.Method, engine.Seed, ct);
                int methodSteps = budgetSteps - (plan.Method == Methods.Wave ? p.Scalers.Steps : 0);
                var schedule = EngineMapping.Schedule(plan.Training with { Steps = Math.Max(steps, methodSteps) });
                subjects.Add(new(plan.Method, ModelFile.Load(await context.Store.GetFileAsync(digest, ct), device), schedule,
                    EngineMapping.Augmentation(plan.Training.Augmentation)));
            }
            var data = context.Datasets.Load(p.Data with { Subset = null });
            var results = Diagnosis.Run(subjects, data, device, steps, engine.Seed, progress, ct);
            var markdown = Diagnosis.ToMarkdown(results, $"Diagnosis of {size} (teacher {teacherSize}; {steps} stage-3 steps of a {parse.GetValue(Budget):0.##}-epoch schedule)") +
                           $"\nWritten by `./wavemesh diagnose --config {Path.GetRelativePath(Environment.CurrentDirectory, parse.GetValue(Config)!.FullName)} " +
                           string.Create(CultureInfo.InvariantCulture, $"--size {size.Slug} --steps {steps} --budget {parse.GetValue(Budget):0.##}`.\n");
            await File.WriteAllTextAsync(outFile.FullName, markdown, ct);
            Console.WriteLine(markdown);
            Console.WriteLine($"Written to {outFile.FullName}");
            return 0;
        }
        finally
        {
            foreach (var s in subjects) s.Model.Dispose();
        }
    }
}
