using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

/// <summary>The whole method on a small subset: a teacher learns, and WAVE initialises a differently sized target well.</summary>
public sealed class Learning_on_Fashion_MNIST(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Learning")]
    public void A_teacher_learns_and_a_WAVE_target_of_another_depth_and_width_starts_far_above_chance()
    {
        using var scope = NewDisposeScope();
        var data = Tiny.Fashion;
        var train = data.Train.Subset(6000, seed: 1);
        var test = data.Test.Subset(2000, seed: 2);
        var family = Tiny.Family.WithSize(2, 64, 4);

        var teacher = VisionTransformer.Create(family, seed: 1);
        Finetuning.Train(teacher, train, data.Normalization, CPU, new TrainSchedule { Steps = 300, BatchSize = 64, LearningRate = 1e-3 }, seed: 1);
        var teacherAccuracy = Evaluation.Run(teacher, test, data.Normalization, CPU).Accuracy;

        var aux = family.WithSize(2, 32, 2);
        var distilled = Distillation.DistillTemplates(teacher, aux, Tiny.Templates, train, data.Normalization, CPU,
            new DistillOptions { Schedule = new TrainSchedule { Steps = 300, BatchSize = 64, LearningRate = 2e-3 }, Seed = 3 });
        var auxAccuracy = Evaluation.Run(new TemplatedVit(distilled.Templates, distilled.AuxScalers), test, data.Normalization, CPU).Accuracy;

        var target = family.WithSize(3, 48, 3);
        var initial = ScalerTraining.InitialScalers(distilled.Templates, target, ScalerInit.Resized, distilled.AuxScalers, seed: 4);
        var (scalers, _) = ScalerTraining.TrainScalers(teacher, distilled.Templates, target, initial, train.Subset(2000, seed: 5),
            data.Normalization, CPU, ScalerTraining.Defaults with { Schedule = ScalerTraining.Defaults.Schedule with { Steps = 100, BatchSize = 64 } });
        var model = new TemplatedVit(distilled.Templates, scalers).Materialize();
        var targetAccuracy = Evaluation.Run(model, test, data.Normalization, CPU).Accuracy;
        var scratchAccuracy = Evaluation.Run(VisionTransformer.Create(target, seed: 9), test, data.Normalization, CPU).Accuracy;

        output.WriteLine($"teacher {teacherAccuracy:P1}, auxiliary {auxAccuracy:P1}, WAVE target {targetAccuracy:P1} before stage 3, scratch {scratchAccuracy:P1}");
        Assert.True(teacherAccuracy > 0.70, $"teacher reached only {teacherAccuracy:P1}");
        Assert.True(targetAccuracy > 0.55, $"WAVE target reached only {targetAccuracy:P1} before stage 3 (chance is 10%)");
        Assert.True(scratchAccuracy < 0.3, $"an untrained model should be near chance, got {scratchAccuracy:P1}");
    }
}
