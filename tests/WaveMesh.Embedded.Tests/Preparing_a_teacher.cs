using System.Security.Cryptography;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Safetensors;
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

    // ---- a timm hub folder as the teacher ----

    /// <summary>
    /// A hub folder as a timm user's save_for_hf writes it, made here byte by byte: config.json as text, and
    /// model.safetensors from a random ViT's weights (no WaveMesh metadata, so its shape is read from the tensors).
    /// </summary>
    string HubFolder(string configJson, VitSpec spec, out VisionTransformer model)
    {
        var hub = Path.Combine(folder.Path, "my-vit");
        Directory.CreateDirectory(hub);
        File.WriteAllText(Path.Combine(hub, "config.json"), configJson);
        model = VisionTransformer.Create(spec, seed: 3);
        var weights = model.Weights();
        SafetensorsWriter.WriteFile(Path.Combine(hub, "model.safetensors"), VitLayout.Of(spec).Select(t =>
            new SafetensorsWriter.Entry(t.Name, t.Shape, weights[t.Name].cpu().data<float>().ToArray())).ToList());
        return hub;
    }

    const string TimmConfig = """
        {
          "architecture": "vit_small_patch16_224",
          "num_classes": 10,
          "num_features": 32,
          "global_pool": "token",
          "model_args": { "img_size": 28, "patch_size": 7, "in_chans": 1, "num_classes": 10, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2.0 },
          "pretrained_cfg": { "input_size": [1, 28, 28], "interpolation": "bicubic", "crop_pct": 0.9, "mean": [0.5], "std": [0.25], "num_classes": 10,
                              "pool_size": null, "first_conv": "patch_embed.proj", "classifier": "head", "license": "apache-2.0" }
        }
        """;

    [Fact]
    public async Task A_timm_hub_folder_is_taken_as_it_is_with_its_own_normalisation_folded_in()
    {
        var spec = new VitSpec { Depth = 1, Width = 32, Heads = 2, MlpRatio = 2 };
        var hub = HubFolder(TimmConfig, spec, out var original);
        using var _ = original;
        var config = RunConfig.Parse($"teacher: {{ file: '{hub}' }}\n", null);
        await using var host = Host();

        var teacher = await host.PrepareTeacherAsync(config.Teacher, config.Pipeline, Guid.NewGuid(), CancellationToken.None);

        Assert.Equal("my-vit", teacher.Name);
        Assert.Equal(new ModelSize(1, 32, 2), teacher.Size);
        // The imported teacher, fed images normalised as the data set is, gives the logits the original gives on the
        // same images normalised its own way (mean 0.5, std 0.25).
        var data = host.Runner.Context.Datasets.Load(new DatasetRef(), host.Store);
        using var imported = ModelFile.Load(await host.Store.GetFileAsync(teacher.TeacherDigest));
        using var pixels = data.Test.Images[TorchSharp.torch.TensorIndex.Slice(0, 64)].to_type(TorchSharp.torch.ScalarType.Float32).div(255);
        var n = data.Normalization;
        using var own = original.forward(pixels.sub(0.5).div(0.25));
        using var theirs = imported.forward(pixels.sub(n.Mean[0]).div(n.Std[0]));
        Assert.True(own.allclose(theirs, rtol: 1e-4, atol: 1e-4), $"largest difference {own.sub(theirs).abs().max().item<float>()}");
        using var file = SafetensorsFile.Open(await host.Store.GetFileAsync(teacher.TeacherDigest));
        Assert.Equal(n.Mean, InputNormalization.Of(file.Metadata)!.Mean);
    }

    [Fact]
    public async Task What_a_hub_folder_has_that_WaveMesh_cannot_take_is_named()
    {
        var spec = new VitSpec { Depth = 1, Width = 32, Heads = 2, MlpRatio = 2 };
        var hub = HubFolder(TimmConfig.Replace("\"vit_small_patch16_224\"", "\"deit3_small_patch16_224\"")
            .Replace("\"mlp_ratio\": 2.0", "\"mlp_ratio\": 2.0, \"reg_tokens\": 4, \"init_values\": 1e-5, \"qkv_bias\": false"), spec, out var model);
        model.Dispose();
        var config = RunConfig.Parse($"teacher: {{ file: '{hub}' }}\n", null);
        await using var host = Host();

        var error = await Assert.ThrowsAsync<SpecException>(() => host.PrepareTeacherAsync(config.Teacher, config.Pipeline, Guid.NewGuid(), CancellationToken.None));

        Assert.Equal($"{hub}: WaveMesh cannot take this model: architecture 'deit3_small_patch16_224' is not a timm VisionTransformer (vit_*); " +
                     "qkv_bias false (WaveMesh's attention has a qkv bias); 4 register tokens; LayerScale (init_values)", error.Message);
    }

    [Fact]
    public async Task A_hub_folder_whose_config_and_weights_disagree_is_refused()
    {
        var spec = new VitSpec { Depth = 1, Width = 32, Heads = 2, MlpRatio = 2 };
        var hub = HubFolder(TimmConfig.Replace("\"embed_dim\": 32", "\"embed_dim\": 64"), spec, out var model);
        model.Dispose();
        var config = RunConfig.Parse($"teacher: {{ file: '{hub}' }}\n", null);
        await using var host = Host();

        var error = await Assert.ThrowsAsync<SpecException>(() => host.PrepareTeacherAsync(config.Teacher, config.Pipeline, Guid.NewGuid(), CancellationToken.None));

        Assert.Equal($"{hub}: config.json and model.safetensors disagree: embed_dim 64 (the weights: 32)", error.Message);
    }
}
