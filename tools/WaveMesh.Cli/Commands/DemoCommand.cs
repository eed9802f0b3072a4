using System.CommandLine;
using System.Diagnostics;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh demo</c>: the engine end to end on Fashion-MNIST, in one process and without caching beyond the
/// teacher: train (or load) a teacher, distil templates into an auxiliary model, fit the scalers of a target whose
/// depth and width both differ from the auxiliary model's, and report its test accuracy before any stage-3 step.
/// </summary>
static class DemoCommand
{
    static readonly Option<FileInfo?> Teacher = new("--teacher") { Description = "Teacher checkpoint (safetensors, timm names); default: train one and cache it" };
    static readonly Option<double> TeacherEpochs = new("--teacher-epochs") { Description = "Epochs for the default teacher", DefaultValueFactory = _ => 3 };
    static readonly Option<double> DistilEpochs = new("--distil-epochs") { Description = "Epochs of stage 1 (template distillation)", DefaultValueFactory = _ => 1.5 };
    static readonly Option<int> ScalerSteps = new("--scaler-steps") { Description = "Steps of stage 2 (scaler training)", DefaultValueFactory = _ => 300 };
    static readonly Option<string> Target = new("--target") { Description = "Target size as LxDxH", DefaultValueFactory = _ => "6x160x5" };
    static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Folder for the teacher cache and the outputs", DefaultValueFactory = _ => new DirectoryInfo(".wavemesh/demo") };

    static readonly VitSpec DefaultTeacher = new() { Depth = 6, Width = 128, Heads = 4 };
    static readonly VitSpec Auxiliary = new() { Depth = 4, Width = 128, Heads = 4 };
    static readonly TemplateConfig Templates = new() { TemplateSize = 32, MatrixTemplates = 8, VectorTemplates = 4, EmbeddingTemplates = 8 };

    public static Command Create()
    {
        var command = new Command("demo", "Run the WAVE engine end to end on Fashion-MNIST and report the target's accuracy before training")
        {
            Teacher, TeacherEpochs, DistilEpochs, ScalerSteps, Target, Out,
        };
        CliContext.AddEngineOptions(command);
        command.SetAction(Run);
        return command;
    }

    public static VitSpec ParseSize(string text, VitSpec family)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length != 3 || !parts.All(p => int.TryParse(p, out _)))
            throw new CliUsageException($"target size '{text}' must look like LxDxH, e.g. 6x160x5");
        return family.WithSize(int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]));
    }

    static int Run(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        // Refuse an impossible target before any work starts.
        Templates.Check(ParseSize(parse.GetValue(Target)!, Auxiliary));
        var (device, engine) = CliContext.Engine(parse);
        var outDir = parse.GetValue(Out)!;
        outDir.Create();
        var data = CliContext.LoadFashionMnist(parse);
        var progress = new ConsoleProgress();
        var clock = Stopwatch.StartNew();
        int stepsPerEpoch = data.Train.Count / 128;

        VisionTransformer teacher;
        var teacherFile = parse.GetValue(Teacher);
        double teacherEpochs = parse.GetValue(TeacherEpochs);
        var cached = Path.Combine(outDir.FullName, $"teacher-{DefaultTeacher.Describe().Replace(' ', '-')}-e{teacherEpochs}-s{engine.Seed}.safetensors");
        if (teacherFile is not null)
        {
            teacher = ModelFile.Load(teacherFile.FullName, device);
            Console.WriteLine($"Teacher {teacher.Spec.Describe()} loaded from {teacherFile.FullName}");
        }
        else if (File.Exists(cached))
        {
            teacher = ModelFile.Load(cached, device);
            Console.WriteLine($"Teacher {teacher.Spec.Describe()} reused from {cached}");
        }
        else
        {
            teacher = VisionTransformer.Create(DefaultTeacher, engine.Seed, device);
            progress.Begin($"teacher {DefaultTeacher.Describe()}");
            var schedule = new TrainSchedule { Steps = (int)(teacherEpochs * stepsPerEpoch), LearningRate = 1e-3 };
            Finetuning.Train(teacher, data.Train, data.Normalization, device, schedule, engine.Seed, progress: progress, cancellation: ct, stage: "teacher");
            ct.ThrowIfCancellationRequested();
            ModelFile.Save(teacher, cached);
        }
        var teacherEval = Evaluation.Run(teacher, data.Test, data.Normalization, device);
        Console.WriteLine($"Teacher test accuracy: {teacherEval.Accuracy:P2}");

        var aux = Auxiliary with { ImageSize = teacher.Spec.ImageSize, Channels = teacher.Spec.Channels, Classes = teacher.Spec.Classes };
        progress.Begin($"stage 1: distil into {aux.Describe()}");
        var distilled = Distillation.DistillTemplates(teacher, aux, Templates, data.Train, data.Normalization, device,
            new DistillOptions { Schedule = new TrainSchedule { Steps = (int)(parse.GetValue(DistilEpochs) * stepsPerEpoch), LearningRate = 5e-4 }, Seed = engine.Seed },
            progress, ct);
        ct.ThrowIfCancellationRequested();
        var auxEval = Evaluation.Run(new TemplatedVit(distilled.Templates, distilled.AuxScalers), data.Test, data.Normalization, device);
        Console.WriteLine($"Auxiliary model {aux.Describe()} from {distilled.Templates.TemplateParameterCount:N0} template parameters: {auxEval.Accuracy:P2}");

        var target = ParseSize(parse.GetValue(Target)!, aux);
        var initial = ScalerTraining.InitialScalers(distilled.Templates, target, ScalerInit.Resized, distilled.AuxScalers, engine.Seed);
        progress.Begin($"stage 2: scalers of {target.Describe()}");
        var options = ScalerTraining.Defaults with { Schedule = ScalerTraining.Defaults.Schedule with { Steps = parse.GetValue(ScalerSteps) }, Seed = engine.Seed };
        var (scalers, _) = ScalerTraining.TrainScalers(teacher, distilled.Templates, target, initial, data.Train.Subset(5000, engine.Seed),
            data.Normalization, device, options, progress, ct);
        ct.ThrowIfCancellationRequested();
        var model = new TemplatedVit(distilled.Templates, scalers).Materialize();
        var init = Evaluation.Run(model, data.Test, data.Normalization, device);
        var scratch = Evaluation.Run(VisionTransformer.Create(target, engine.Seed, device), data.Test, data.Normalization, device);

        var modelPath = Path.Combine(outDir.FullName, $"target-{target.Depth}x{target.Width}x{target.Heads}.safetensors");
        ModelFile.Save(model, modelPath);
        Console.WriteLine();
        Console.WriteLine($"Target {target.Describe()} ({target.ParameterCount:N0} parameters, {scalers.ScalerCount:N0} scalers), test accuracy before any stage-3 step:");
        Console.WriteLine($"  WAVE initialisation: {init.Accuracy:P2}   (scratch initialisation: {scratch.Accuracy:P2}, chance 10%)");
        Console.WriteLine($"Saved the initialised model to {modelPath} ({ConsoleProgress.Format(clock.Elapsed)} in all)");
        return 0;
    }
}
