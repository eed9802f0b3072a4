using System.Globalization;
using WaveMesh.Contracts;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Reporting;
using WaveMesh.Stages;
using WaveMesh.Workers;

namespace WaveMesh.Benchmarks;

/// <summary>One benchmark measurement to make: a size, a method, a seed, a stage-3 budget in epochs, a learning rate.</summary>
public sealed record CellSpec(ModelSize Size, string Method, long Seed, double Budget, double LearningRate)
{
    public string Id => string.Create(CultureInfo.InvariantCulture, $"{Size.Slug}-{Method}-s{Seed}-b{Budget:0.###}-lr{LearningRate:0.######}");
}

/// <summary>A finished cell as stored on disk: the report's cell plus the learning rate it used.</summary>
public sealed record StoredCell(BenchCell Cell, double LearningRate, bool Cached);

/// <summary>
/// Runs benchmark cells on the stage units, one at a time. Every cell is a file under <c>cells/</c> once finished and is
/// never computed again; the jobs behind it (teacher, templates, scalers, models) are cached in the artifact store, so
/// cells that share them (a size's seeds, a seed's budgets) pay for them once.
/// </summary>
public sealed class BenchmarkRunner(StageRunner runner, RunConfig config, string outDirectory, ProgressSink? progress, Action<string> log)
{
    readonly PipelineDefinition p = config.Pipeline;
    string? teacherDigest;
    TemplatesDistilled? templates;
    double teacherAccuracy = double.NaN;

    public string CellsDirectory => Path.Combine(outDirectory, "cells");

    /// <summary>
    /// Only read what earlier runs stored (<c>--report-only</c>): the teacher and the templates are looked up, never
    /// trained; a missing one is an error naming it instead of hours of training the user did not ask for.
    /// </summary>
    public bool StoredOnly { get; init; }

    int StepsPerEpoch => (p.Data.Name == Datasets.Cifar10Name ? 50_000 : 60_000) / 128;

    public static IEnumerable<CellSpec> Plan(IEnumerable<ModelSize> sizes, IEnumerable<string> methods, IReadOnlyList<long> seeds,
        IReadOnlyList<double> budgets, IReadOnlyList<long> longBudgetSeeds, Func<string, IEnumerable<double>> learningRates) =>
        from size in sizes
        from method in methods
        from budget in budgets
        from seed in budget > 1 ? longBudgetSeeds : seeds
        from lr in learningRates(method)
        select new CellSpec(size, method, seed, budget, lr);

    public async Task<(string Digest, double Accuracy)> TeacherAsync(CancellationToken ct)
    {
        if (teacherDigest is null)
        {
            if (config.Teacher.File is { } file)
                teacherDigest = (await runner.Context.Store.PutFileAsync(file, "vit", null, ct)).Digest;
            else
            {
                var job = new FinetuneTarget(p.Family, config.Teacher.Size, Methods.Teacher, new InitSource(InitSource.Scratch),
                    p.Data with { Subset = null }, config.Teacher.Training, config.Teacher.Seed);
                if (!StoredOnly) log($"teacher {config.Teacher.Size}: {config.Teacher.Training.Steps} steps");
                teacherDigest = ((TargetFinetuned)await RunAsync(job, "teacher", ct)).ModelDigest;
            }
            teacherAccuracy = await EvaluateAsync(teacherDigest, EvaluationSubject.Teacher, ct);
            log($"teacher test accuracy {teacherAccuracy:P2}");
        }
        return (teacherDigest, teacherAccuracy);
    }

    async Task<IntegrationEvent> RunAsync(StageJob job, string what, CancellationToken ct) =>
        !StoredOnly
            ? await runner.RunAsync(job, progress, ct)
            : await runner.TryCachedAsync(job, ct) ?? throw new BenchmarkNotStoredException(
                $"--report-only reads a finished benchmark, but its {what} ({job.Describe()}) is not in this artifact store; " +
                "pass the --store the benchmark ran with, or run it without --report-only");

    /// <summary>The teacher's size (weight selection applies only to targets no larger than it).</summary>
    public async Task<ModelSize> TeacherSizeAsync(CancellationToken ct)
    {
        var (digest, _) = await TeacherAsync(ct);
        using var file = Safetensors.SafetensorsFile.Open(await runner.Context.Store.GetFileAsync(digest, ct));
        return ModelMapping.Size(VitCheckpoint.SpecOf(file, config.Teacher.Heads));
    }

    public static bool WeightSelectionApplies(ModelSize teacher, ModelSize target) =>
        target.Depth <= teacher.Depth && target.Width <= teacher.Width;

    public async Task<TemplatesDistilled> TemplatesAsync(CancellationToken ct)
    {
        if (templates is null)
        {
            var (teacher, _) = await TeacherAsync(ct);
            templates = (TemplatesDistilled)await RunAsync(p.DistillJob(teacher), "templates (stage 1)", ct);
            log($"templates: {templates.TemplateParameters:N0} parameters, auxiliary {p.Auxiliary} {templates.AuxAccuracy:P2}, stage 1 {templates.Stats.Seconds:F0} s");
        }
        return templates;
    }

    /// <summary>The model a method starts stage 3 from for <paramref name="size"/> (WAVE's after stage 2), from the store or made now.</summary>
    public async Task<string> InitialModelAsync(ModelSize size, string method, long seed, CancellationToken ct)
    {
        var (teacher, _) = await TeacherAsync(ct);
        if (method == Methods.Wave)
            return ((ScalersTrained)await runner.RunAsync(p.ScalerJob(teacher, await TemplatesAsync(ct), size, seed), progress, ct)).ModelDigest;
        var init = method == Methods.Scratch ? new InitSource(InitSource.Scratch) : new InitSource(InitSource.WeightSelection, teacher);
        var plan = p.Methods.First(m => m.Method == method).Training;
        var job = new FinetuneTarget(p.Family, size, method, init, p.Data with { Subset = null }, plan with { Steps = 0 }, seed);
        return ((TargetFinetuned)await runner.RunAsync(job, progress, ct)).InitModelDigest;
    }

    /// <summary>The cell's stored result, or runs it (and the jobs it needs) and stores it.</summary>
    public async Task<StoredCell> RunCellAsync(CellSpec cell, CancellationToken ct)
    {
        var file = Path.Combine(CellsDirectory, cell.Id + ".json");
        if (File.Exists(file)) return ContractJson.Deserialize<StoredCell>(await File.ReadAllTextAsync(file, ct)) with { Cached = true };

        var (teacher, _) = await TeacherAsync(ct);
        InitSource init;
        int stage2Steps = 0;
        double seconds = 0;
        if (cell.Method == Methods.Wave)
        {
            var t = await TemplatesAsync(ct);
            var scalers = (ScalersTrained)await runner.RunAsync(p.ScalerJob(teacher, t, cell.Size, cell.Seed), progress, ct);
            init = new InitSource(InitSource.Model, scalers.ModelDigest);
            stage2Steps = scalers.Stats.Steps;
            seconds += scalers.Stats.Seconds;
        }
        else if (cell.Method == Methods.Scratch) init = new InitSource(InitSource.Scratch);
        else init = new InitSource(InitSource.WeightSelection, teacher);

        // Equal budgets: WAVE's stage-2 (scaler-training) steps are paid out of its budget, so it gets fewer stage-3 steps;
        // at budget 0 every method is measured at initialisation (WAVE's initialisation includes stage 2).
        int steps = Math.Max(0, (int)Math.Round(cell.Budget * StepsPerEpoch) - (cell.Budget > 0 ? stage2Steps : 0));
        var plan = p.Methods.FirstOrDefault(m => m.Method == cell.Method)?.Training ?? new TrainSettings(0);
        var finetuned = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(p.Family, cell.Size, cell.Method, init, p.Data with { Subset = null },
            plan with { Steps = steps, LearningRate = cell.LearningRate }, cell.Seed), progress, ct);
        seconds += finetuned.Stats.Seconds;
        double accuracy = await EvaluateAsync(finetuned.ModelDigest, new EvaluationSubject(cell.Size, cell.Method, $"b{cell.Budget}-s{cell.Seed}").ToString(), ct);

        var stored = new StoredCell(new BenchCell(cell.Size.Depth, cell.Size.Width, cell.Size.Heads, finetuned.Parameters, cell.Method, cell.Seed,
            cell.Budget, steps, stage2Steps, accuracy, seconds), cell.LearningRate, false);
        Directory.CreateDirectory(CellsDirectory);
        var temp = file + $".{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(temp, ContractJson.Serialize(stored), ct);
        File.Move(temp, file, overwrite: true);
        return stored;
    }

    async Task<double> EvaluateAsync(string model, string subject, CancellationToken ct) =>
        ((TargetEvaluated)await runner.RunAsync(new EvaluateModel(model, p.Data with { Subset = null }, subject), progress, ct)).Accuracy;

    /// <summary>Every finished cell on disk (from any earlier invocation too).</summary>
    public IReadOnlyList<StoredCell> StoredCells() =>
        Directory.Exists(CellsDirectory)
            ? Directory.EnumerateFiles(CellsDirectory, "*.json").Order(StringComparer.Ordinal)
                .Select(f => ContractJson.Deserialize<StoredCell>(File.ReadAllText(f))).ToList()
            : [];
}

/// <summary>A report was asked of a benchmark whose teacher or templates are not in the artifact store.</summary>
public sealed class BenchmarkNotStoredException(string message) : Exception(message);
