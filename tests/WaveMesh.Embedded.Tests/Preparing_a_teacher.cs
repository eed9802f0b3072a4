using System.Security.Cryptography;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Stages;

namespace WaveMesh.Embedded.Tests;

public sealed class Preparing_a_teacher : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    EmbeddedHost Host() => new(new StageContext
    {
        Store = new FileArtifactStore(Path.Combine(folder.Path, "store")),
        Datasets = new Datasets(),
        WorkDirectory = Path.Combine(folder.Path, "work"),
    });

    string SaveModel(VitSpec spec)
    {
        var path = Path.Combine(folder.Path, "teacher.safetensors");
        using var model = VisionTransformer.Create(spec, seed: 1);
        ModelFile.Save(model, path);
        return path;
    }

    [Fact]
    public async Task Stores_a_given_checkpoint_as_the_teacher_without_training_one()
    {
        var path = SaveModel(new VitSpec { Depth = 1, Width = 32, Heads = 2, MlpRatio = 2 });
        var config = RunConfig.Parse($"teacher: {{ file: '{path}' }}\n", null);
        await using var host = Host();
        var runId = Guid.NewGuid();

        var teacher = await host.PrepareTeacherAsync(config.Teacher, config.Pipeline, runId, CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path))), teacher.TeacherDigest);
        Assert.True(await host.Store.ExistsAsync(teacher.TeacherDigest));
        Assert.Equal(new ModelSize(1, 32, 2), teacher.Size);
        Assert.Equal(new ModelFamily(MlpRatio: 2), teacher.Family);
        Assert.Equal("teacher.safetensors", teacher.Name);
        Assert.Equal(runId, teacher.RunId);
    }

    [Fact]
    public async Task Refuses_a_teacher_checkpoint_made_for_other_images()
    {
        var path = SaveModel(new VitSpec { ImageSize = 32, Channels = 3, PatchSize = 4, Depth = 1, Width = 32, Heads = 2, MlpRatio = 2 });
        var config = RunConfig.Parse($"teacher: {{ file: '{path}' }}\n", null);
        await using var host = Host();

        var error = await Assert.ThrowsAsync<CheckpointMismatchException>(() =>
            host.PrepareTeacherAsync(config.Teacher, config.Pipeline, Guid.NewGuid(), CancellationToken.None));

        Assert.Contains("32x32x3", error.Message);
        Assert.Contains("28x28x1", error.Message);
    }

    [Fact]
    public async Task Names_a_teacher_checkpoint_that_does_not_exist()
    {
        var path = Path.Combine(folder.Path, "missing.safetensors");
        var config = RunConfig.Parse($"teacher: {{ file: '{path}' }}\n", null);
        await using var host = Host();

        var error = await Assert.ThrowsAsync<FileNotFoundException>(() =>
            host.PrepareTeacherAsync(config.Teacher, config.Pipeline, Guid.NewGuid(), CancellationToken.None));

        Assert.Equal(path, error.FileName);
    }
}
