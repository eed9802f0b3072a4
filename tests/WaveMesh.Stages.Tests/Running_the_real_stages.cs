using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Models;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Stages.Tests;

/// <summary>The four real stages on Fashion-MNIST subsets with tiny models: a teacher of 50 steps, templates of size 16.</summary>
public sealed class Running_the_real_stages(ITestOutputHelper output) : IDisposable
{
    /// <summary>Fashion-MNIST is loaded once for the whole test run; each test still has its own store.</summary>
    static readonly Datasets Shared = new();

    static readonly ModelFamily Family = new(MlpRatio: 2);
    static readonly ModelSize TeacherSize = new(2, 32, 2);
    static readonly TemplateSettings Templates = new(Size: 16, Matrix: 4, Vector: 2, Embedding: 4);

    readonly TempFolder folder = new();

    // One libtorch thread: the machine's other training job would otherwise fight these tests for both cores.
    static Running_the_real_stages() => TorchSharp.torch.set_num_threads(1);

    public void Dispose() => folder.Dispose();

    StageRunner Runner() => new(folder.Context(Shared), StageRunner.AllStages());

    static FinetuneTarget TeacherJob() => new(Family, TeacherSize, "teacher", new InitSource(InitSource.Scratch),
        new DatasetRef(Subset: 3000, SubsetSeed: 1), new TrainSettings(50, BatchSize: 64), Seed: 1) { RunId = Guid.NewGuid() };

    static DistillTemplates DistillJob(string teacherDigest) => new(teacherDigest, Family, TeacherSize, Templates,
        new DatasetRef(Subset: 1000, SubsetSeed: 2), new TrainSettings(20, BatchSize: 64, LearningRate: 2e-3), Temperature: 1.0, Seed: 3)
    { RunId = Guid.NewGuid() };

    async Task<string> Path(string digest) => await folder.Store().GetFileAsync(digest);

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task Distils_trains_scalers_finetunes_and_evaluates_with_every_artifact_in_the_store()
    {
        var runner = Runner();
        var store = folder.Store();

        var teacher = Assert.IsType<TargetFinetuned>(await runner.RunAsync(TeacherJob()));
        Assert.Equal(50, teacher.Stats.Steps);
        Assert.True(await store.ExistsAsync(teacher.ModelDigest));
        using (var teacherModel = ModelFile.Load(await Path(teacher.ModelDigest)))
            Assert.Equal((2, 32, 2, 2), (teacherModel.Spec.Depth, teacherModel.Spec.Width, teacherModel.Spec.Heads, teacherModel.Spec.MlpRatio));

        var distilled = Assert.IsType<TemplatesDistilled>(await runner.RunAsync(DistillJob(teacher.ModelDigest)));
        Assert.Equal(teacher.ModelDigest, distilled.TeacherDigest);
        Assert.Equal(20, distilled.Stats.Steps);
        Assert.InRange(distilled.AuxAccuracy, 0, 1);
        Assert.True(await store.ExistsAsync(distilled.TemplatesDigest));
        Assert.True(await store.ExistsAsync(distilled.AuxScalersDigest));
        var (templates, templatesInfo) = WaveFiles.LoadTemplates(await Path(distilled.TemplatesDigest));
        Assert.Equal(teacher.ModelDigest, templatesInfo.TeacherDigest);
        Assert.Equal((16, 4, 2, 4), (templatesInfo.Config.TemplateSize, templatesInfo.Config.MatrixTemplates,
            templatesInfo.Config.VectorTemplates, templatesInfo.Config.EmbeddingTemplates));
        Assert.Equal(distilled.TemplateParameters, templates.TemplateParameterCount);
        var (_, auxInfo) = WaveFiles.LoadScalers(await Path(distilled.AuxScalersDigest));
        Assert.Equal((2, 32, 2), (auxInfo.Target.Depth, auxInfo.Target.Width, auxInfo.Target.Heads));
        Assert.Equal(distilled.TemplatesDigest, auxInfo.TemplatesDigest);

        var target = new ModelSize(3, 48, 3);
        var scalers = Assert.IsType<ScalersTrained>(await runner.RunAsync(new TrainScalers(teacher.ModelDigest, distilled.TemplatesDigest,
            distilled.AuxScalersDigest, target, ScalerInit.Resized, new DatasetRef(Subset: 1000, SubsetSeed: 4),
            new TrainSettings(10, BatchSize: 64, LearningRate: 3e-3, WeightDecay: 0), Temperature: 1.0, Seed: 5) { RunId = Guid.NewGuid() }));
        Assert.Equal(target, scalers.Target);
        Assert.Equal(distilled.TemplatesDigest, scalers.TemplatesDigest);
        Assert.Equal(10, scalers.Stats.Steps);
        var (scalerSet, scalersInfo) = WaveFiles.LoadScalers(await Path(scalers.ScalersDigest));
        Assert.Equal((3, 48, 3), (scalersInfo.Target.Depth, scalersInfo.Target.Width, scalersInfo.Target.Heads));
        Assert.Equal(distilled.TemplatesDigest, scalersInfo.TemplatesDigest);
        Assert.Equal(scalers.Scalers, scalerSet.ScalerCount);
        using (var waveModel = ModelFile.Load(await Path(scalers.ModelDigest)))
            Assert.Equal((3, 48, 3), (waveModel.Spec.Depth, waveModel.Spec.Width, waveModel.Spec.Heads));

        var finetuned = Assert.IsType<TargetFinetuned>(await runner.RunAsync(new FinetuneTarget(Family, target, "wave",
            new InitSource(InitSource.Model, scalers.ModelDigest), new DatasetRef(Subset: 1000, SubsetSeed: 6),
            new TrainSettings(10, BatchSize: 64, LearningRate: 5e-4), Seed: 7, CurvePoints: 2) { RunId = Guid.NewGuid() }));
        Assert.Equal(scalers.ModelDigest, finetuned.InitModelDigest);
        Assert.NotEqual(finetuned.InitModelDigest, finetuned.ModelDigest);
        Assert.Equal(10, finetuned.Stats.Steps);
        var point = Assert.Single(finetuned.Curve);
        Assert.Equal(5, point.Step);
        Assert.InRange(point.Accuracy, 0, 1);
        using (var finalModel = ModelFile.Load(await Path(finetuned.ModelDigest)))
        {
            Assert.Equal((3, 48, 3), (finalModel.Spec.Depth, finalModel.Spec.Width, finalModel.Spec.Heads));
            Assert.Equal(finalModel.Spec.ParameterCount, finetuned.Parameters);
        }

        var evaluated = Assert.IsType<TargetEvaluated>(await runner.RunAsync(
            new EvaluateModel(finetuned.ModelDigest, new DatasetRef(), "3x48x3/wave/final") { RunId = Guid.NewGuid() }));
        Assert.Equal(finetuned.ModelDigest, evaluated.ModelDigest);
        Assert.Equal(10_000, evaluated.Examples);
        Assert.InRange(evaluated.Accuracy, 0, 1);
        Assert.True(double.IsFinite(evaluated.Loss));
        output.WriteLine($"auxiliary {distilled.AuxAccuracy:P1}, target after stage 3 {evaluated.Accuracy:P1}");

        Assert.Empty(Directory.GetFiles(System.IO.Path.Combine(folder.Path, "work")));
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task Stores_the_initial_models_of_the_baselines_next_to_their_trained_ones()
    {
        var runner = Runner();
        var store = folder.Store();
        var teacher = (TargetFinetuned)await runner.RunAsync(TeacherJob());
        var small = new ModelSize(1, 16, 1);
        var data = new DatasetRef(Subset: 500, SubsetSeed: 3);

        var selected = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(Family, small, "weight_selection",
            new InitSource(InitSource.WeightSelection, teacher.ModelDigest), data, new TrainSettings(5, BatchSize: 32), Seed: 2));
        var scratch = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(Family, small, "scratch",
            new InitSource(InitSource.Scratch), data, new TrainSettings(5, BatchSize: 32), Seed: 2));

        foreach (var (result, kind) in new[] { (selected, InitSource.WeightSelection), (scratch, InitSource.Scratch) })
        {
            Assert.Equal(5, result.Stats.Steps);
            Assert.NotEqual(result.InitModelDigest, result.ModelDigest);
            var init = await store.GetInfoAsync(result.InitModelDigest);
            Assert.NotNull(init);
            Assert.Equal(new InitSource(kind).KindName, init.Metadata[MetadataKeys.Init]);
            var final = await store.GetInfoAsync(result.ModelDigest);
            Assert.NotNull(final);
            Assert.Equal(result.InitModelDigest, final.Metadata["wavemesh.init_digest"]);
            using var model = ModelFile.Load(await Path(result.InitModelDigest));
            Assert.Equal((1, 16, 1), (model.Spec.Depth, model.Spec.Width, model.Spec.Heads));
        }
        Assert.NotEqual(selected.InitModelDigest, scratch.InitModelDigest);
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task Answers_a_repeated_distillation_from_the_store_with_the_same_artifacts()
    {
        var teacher = (TargetFinetuned)await Runner().RunAsync(TeacherJob());
        var job = DistillJob(teacher.ModelDigest);
        var first = (TemplatesDistilled)await Runner().RunAsync(job);

        var again = (TemplatesDistilled)await Runner().RunAsync(job with { Id = Guid.NewGuid(), RunId = Guid.NewGuid() });

        Assert.False(first.Stats.Cached);
        Assert.True(again.Stats.Cached);
        Assert.Equal(first.TemplatesDigest, again.TemplatesDigest);
        Assert.Equal(first.AuxScalersDigest, again.AuxScalersDigest);
        Assert.Equal(first.AuxAccuracy, again.AuxAccuracy);
        Assert.Equal(first.Stats.Seconds, again.Stats.Seconds);
    }
}
