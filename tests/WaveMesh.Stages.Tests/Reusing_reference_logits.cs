using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Models;
using WaveMesh.Safetensors;
using WaveMesh.Testing;
using static TorchSharp.torch;

namespace WaveMesh.Stages.Tests;

/// <summary>
/// Stage 2 of every size imitates the same teacher on the same subset: its logits are computed by the first job,
/// kept in the store, and read (verified) by the next. Each test compares a second size's scalers against the same job
/// in a fresh store, where nothing was kept, so the comparison is against computing the logits in place.
/// </summary>
public sealed class Reusing_reference_logits : IDisposable
{
    static readonly Datasets Shared = new();
    static readonly ModelFamily Family = new(MlpRatio: 2);
    static readonly ModelSize TeacherSize = new(2, 32, 2);
    static readonly DatasetRef ScalerData = new(Subset: 600, SubsetSeed: 4);

    readonly TempFolder folder = new();
    readonly TempFolder fresh = new();

    static Reusing_reference_logits() => set_num_threads(1);

    public void Dispose()
    {
        folder.Dispose();
        fresh.Dispose();
    }

    /// <summary>A teacher and its templates (deterministic: the same digests in every store).</summary>
    static async Task<(StageRunner Runner, string Teacher, TemplatesDistilled Templates)> Prepare(TempFolder f)
    {
        var runner = new StageRunner(f.Context(Shared), StageRunner.AllStages());
        var teacher = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(Family, TeacherSize, "teacher", new InitSource(InitSource.Scratch),
            new DatasetRef(Subset: 1000, SubsetSeed: 1), new TrainSettings(20, BatchSize: 64), Seed: 1) { RunId = Guid.NewGuid() });
        var templates = (TemplatesDistilled)await runner.RunAsync(new DistillTemplates(teacher.ModelDigest, Family, TeacherSize,
            new TemplateSettings(Size: 16, Matrix: 4, Vector: 2, Embedding: 4), new DatasetRef(Subset: 500, SubsetSeed: 2),
            new TrainSettings(8, BatchSize: 64, LearningRate: 2e-3), Temperature: 1.0, Seed: 3) { RunId = Guid.NewGuid() });
        return (runner, teacher.ModelDigest, templates);
    }

    static async Task<ScalersTrained> Scalers(StageRunner runner, string teacher, TemplatesDistilled templates, ModelSize size) =>
        (ScalersTrained)await runner.RunAsync(new TrainScalers(teacher, templates.TemplatesDigest, templates.AuxScalersDigest, size,
            ScalerInit.Resized, ScalerData, new TrainSettings(6, BatchSize: 64, LearningRate: 3e-3, WeightDecay: 0), Temperature: 1.0, Seed: 5)
        { RunId = Guid.NewGuid() });

    /// <summary>The second size's scalers in a fresh store, where its job computes the teacher's logits itself.</summary>
    async Task<string> ComputedInPlace()
    {
        var (runner, teacher, templates) = await Prepare(fresh);
        Assert.Null(await fresh.Store().GetRecordAsync(ReferenceLogits.RecordKey($"teacher {teacher}", ScalerData)));
        return (await Scalers(runner, teacher, templates, new ModelSize(1, 32, 2))).ScalersDigest;
    }

    /// <summary>The first size's stage 2 in <see cref="folder"/>, which computes the teacher's logits and keeps them; then the second size.</summary>
    async Task<(string Teacher, string RecordKey, Func<Task<ScalersTrained>> SecondSize)> FirstSize()
    {
        var (runner, teacher, templates) = await Prepare(folder);
        await Scalers(runner, teacher, templates, new ModelSize(2, 48, 3));
        return (teacher, ReferenceLogits.RecordKey($"teacher {teacher}", ScalerData), () => Scalers(runner, teacher, templates, new ModelSize(1, 32, 2)));
    }

    /// <summary>Stores <paramref name="logits"/> as a logits artifact and points the record <paramref name="key"/> at it.</summary>
    async Task Plant(string key, string teacher, Tensor logits)
    {
        var scratch = Path.Combine(folder.Path, $"planted-{Guid.NewGuid():N}.safetensors");
        TensorFile.Save(scratch, [KeyValuePair.Create("logits", logits)], new Dictionary<string, string>());
        var planted = await folder.Store().PutFileAsync(scratch, ReferenceLogits.Kind);
        await folder.Store().SetRecordAsync(key, ContractJson.Serialize(new LogitsIndex(planted.Digest, $"teacher {teacher}", 600)));
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task A_second_size_reads_the_teachers_logits_from_the_store_and_trains_exactly_as_computing_them_would()
    {
        var (teacher, key, secondSize) = await FirstSize();
        var store = folder.Store();
        var json = await store.GetRecordAsync(key);
        Assert.NotNull(json);
        var index = ContractJson.Deserialize<LogitsIndex>(json!);
        Assert.Equal((600, $"teacher {teacher}"), (index.Images, index.Reference));
        var info = await store.GetInfoAsync(index.Digest);
        Assert.Equal(ReferenceLogits.Kind, info!.Kind);
        using (var file = SafetensorsFile.Open(await store.GetFileAsync(index.Digest)))
        {
            Assert.Equal([600L, 10L], Assert.Single(file.Tensors).Shape);
            Assert.Equal(ReferenceLogits.Kind, file.Metadata[MetadataKeys.Kind]);
        }

        var reused = await secondSize();
        Assert.Equal(await ComputedInPlace(), reused.ScalersDigest);
        Assert.Empty(Directory.GetFiles(Path.Combine(folder.Path, "work")));
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task The_stored_logits_are_what_stage_2_imitates()
    {
        var (teacher, key, secondSize) = await FirstSize();
        // Point the record at other logits of the right shape (a teacher with no opinion): the next size must follow them.
        using (var uniform = zeros(600, 10)) await Plant(key, teacher, uniform);

        var steered = await secondSize();
        Assert.NotEqual(await ComputedInPlace(), steered.ScalersDigest);
    }

    [Theory]
    [Trait("Category", "EndToEnd")]
    [InlineData("corrupt")]
    [InlineData("missing")]
    [InlineData("misshapen")]
    public async Task Logits_that_cannot_be_read_back_are_computed_again(string damage)
    {
        var (teacher, key, secondSize) = await FirstSize();
        var store = folder.Store();
        var index = ContractJson.Deserialize<LogitsIndex>((await store.GetRecordAsync(key))!);
        switch (damage)
        {
            case "corrupt":
                var bytes = File.ReadAllBytes(folder.ObjectPath(index.Digest));
                bytes[^5] ^= 0x40;
                File.WriteAllBytes(folder.ObjectPath(index.Digest), bytes);
                break;
            case "missing":
                await store.SetRecordAsync(key, ContractJson.Serialize(index with { Digest = new string('a', 64) }));
                break;
            case "misshapen":
                using (var rows = zeros(599, 10)) await Plant(key, teacher, rows);
                break;
        }

        var recomputed = await secondSize();
        Assert.Equal(await ComputedInPlace(), recomputed.ScalersDigest);
        // The record names readable logits again.
        var again = ContractJson.Deserialize<LogitsIndex>((await store.GetRecordAsync(key))!);
        using var file = SafetensorsFile.Open(await store.GetFileAsync(again.Digest));
        Assert.Equal([600L, 10L], Assert.Single(file.Tensors).Shape);
    }
}
