using System.CommandLine;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Pipeline;
using WaveMesh.Safetensors;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh init</c>: stage 2 for one size, for users with their own training loop. Trains that size's scalers
/// against the templates' teacher and writes a ready-to-train model (safetensors, timm names).
/// </summary>
static class InitCommand
{
    static readonly Option<FileInfo> Templates = new("--templates") { Description = "Templates file (from wavemesh run, or shared by a colleague)", Required = true };
    static readonly Option<int> Depth = new("--depth") { Description = "Target depth", Required = true };
    static readonly Option<int> Width = new("--width") { Description = "Target width (a multiple of the template size)", Required = true };
    static readonly Option<int> Heads = new("--heads") { Description = "Target heads (must divide the width)", Required = true };
    static readonly Option<FileInfo> OutFile = new("--out") { Description = "Model checkpoint to write", Required = true };
    static readonly Option<FileInfo?> Teacher = new("--teacher") { Description = "Teacher checkpoint; default: the templates' teacher, from the store" };
    static readonly Option<FileInfo?> AuxScalers = new("--aux-scalers") { Description = "Auxiliary scalers to resize from; default: from the store, else random initialisation" };
    // Stage 2's settings come from the run configuration (--config, default configs/default.yaml's `scalers` section),
    // so that a size made here is made as the pipeline makes it; the options below override it.
    static readonly Option<int?> Steps = new("--steps") { Description = "Scaler-training steps (default: the configuration's scalers.steps)" };
    static readonly Option<int?> BatchSize = new("--batch-size") { Description = "Images per scaler-training step (default: scalers.batch_size)" };
    static readonly Option<int?> Subset = new("--subset") { Description = "Training images used by stage 2 (default: scalers.subset)" };
    static readonly Option<double?> LearningRate = new("--learning-rate") { Description = "Stage-2 learning rate (default: scalers.learning_rate)" };

    public static Command Create()
    {
        var command = new Command("init", "Train the scalers of one size and write an initialised model checkpoint")
        {
            Templates, Depth, Width, Heads, OutFile, Teacher, AuxScalers, Steps, BatchSize, Subset, LearningRate, RunCommand.Config, RunCommand.Store,
        };
        CliContext.AddEngineOptions(command);
        command.SetAction((parse, _) => Run(parse));
        return command;
    }

    static async Task<int> Run(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        var configFile = parse.GetValue(RunCommand.Config);
        var pipeline = (configFile is null ? RunConfig.Default : RunConfig.Load(configFile.FullName)).Pipeline;
        var templatesFile = parse.GetValue(Templates)!;
        if (!templatesFile.Exists) throw new FileNotFoundException($"templates file not found: {templatesFile.FullName}", templatesFile.FullName);
        TemplatesInfo info;
        using (var f = SafetensorsFile.Open(templatesFile.FullName)) info = WaveFiles.ReadTemplatesInfo(f);
        var target = new ModelSize(parse.GetValue(Depth), parse.GetValue(Width), parse.GetValue(Heads));
        info.Config.Check(info.Family.WithSize(target.Depth, target.Width, target.Heads));
        var outFile = parse.GetValue(OutFile)!;
        RunCommand.EnsureWritable(outFile.Directory!, "output");

        var (device, engine) = CliContext.Engine(parse);
        var storeDir = parse.GetValue(RunCommand.Store)!;
        RunCommand.EnsureWritable(storeDir, "artifact store");
        var context = RunCommand.Context(parse, storeDir, device);
        var store = context.Store;
        var templates = await store.PutFileAsync(templatesFile.FullName, "templates", null, ct);
        var index = await context.Records.GetRecordAsync(DistillStage.AuxScalersRecord(templates.Digest), ct) is { } json
            ? ContractJson.Deserialize<AuxScalersIndex>(json) : null;

        string teacherDigest = parse.GetValue(Teacher) is { } teacherFile
            ? (await store.PutFileAsync(teacherFile.FullName, "vit", null, ct)).Digest
            : info.TeacherDigest is { } d && await store.ExistsAsync(d, ct) ? d
            : throw new CliUsageException($"the templates' teacher ({info.TeacherDigest ?? "unknown"}) is not in the store {storeDir.FullName}: pass --teacher FILE");
        string? auxDigest = parse.GetValue(AuxScalers) is { } auxFile
            ? (await store.PutFileAsync(auxFile.FullName, "scalers", null, ct)).Digest
            : index?.AuxScalersDigest;
        if (auxDigest is null)
            Console.WriteLine("No auxiliary scalers known for these templates (pass --aux-scalers FILE): starting from random scalers.");

        var dataset = info.Family.Channels == 3 ? Datasets.Cifar10Name : Datasets.FashionMnistName;
        var data = new DatasetRef(dataset, parse.GetValue(CliContext.Data), parse.GetValue(Subset) ?? pipeline.ScalerSubset, engine.Seed);
        var job = pipeline.ScalerJob(teacherDigest, templates.Digest, auxDigest ?? "", target, engine.Seed) with
        {
            Init = auxDigest is null ? ScalerInit.Random : pipeline.ScalerInit,
            Data = data,
            Training = pipeline.Scalers with
            {
                Steps = parse.GetValue(Steps) ?? pipeline.Scalers.Steps,
                BatchSize = parse.GetValue(BatchSize) ?? pipeline.Scalers.BatchSize,
                LearningRate = parse.GetValue(LearningRate) ?? pipeline.Scalers.LearningRate,
            },
        };
        if (job.Training.Steps < 1) throw new CliUsageException($"--steps must be at least 1 (got {job.Training.Steps})");
        if (job.Training.BatchSize < 1 || job.Training.BatchSize > data.Subset)
            throw new CliUsageException($"--batch-size must be between 1 and the {data.Subset:N0} training images of the subset (got {job.Training.BatchSize})");
        Console.WriteLine($"Stage 2 for {target}: {job.Training.Steps} steps of {job.Training.BatchSize} images from {data.Subset:N0} at learning rate {job.Training.LearningRate:G3}");
        var progress = new ConsoleProgress();
        var runner = new StageRunner(context, [new ScalerStage(), new EvaluateStage()]);
        var result = (ScalersTrained)await runner.RunAsync(job, p => progress.Show(p.Description, p.Step, p.Steps, p.Loss, p.ExamplesPerSecond, TimeSpan.FromSeconds(p.ElapsedSeconds)), ct);

        var model = await store.GetFileAsync(result.ModelDigest, ct);
        var temp = Path.Combine(outFile.DirectoryName!, $".{outFile.Name}.{Guid.NewGuid():N}.tmp");
        File.Copy(model, temp);
        File.Move(temp, outFile.FullName, overwrite: true);
        Console.WriteLine($"{(result.Stats.Cached ? "Reused" : "Trained")} {result.Scalers:N0} scalers of {target}; wrote {outFile.FullName}");
        // As the run reports it: the model's test accuracy before any training step.
        var evaluation = (TargetEvaluated)await runner.RunAsync(new EvaluateModel(result.ModelDigest, data with { Subset = null },
            new EvaluationSubject(target, "wave", EvaluationSubject.Init).ToString()), null, ct);
        Console.WriteLine($"Test accuracy at initialisation: {evaluation.Accuracy:P2} ({evaluation.Examples:N0} test images)");
        return 0;
    }
}
