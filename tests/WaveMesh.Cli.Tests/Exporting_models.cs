using System.Text.Json;
using WaveMesh.Testing;

namespace WaveMesh.Cli.Tests;

/// <summary><c>wavemesh export</c> as a user runs it: a model file becomes a timm hub folder; bad input is one line on stderr.</summary>
[Trait("Category", "EndToEnd")]
public sealed class Exporting_models : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task A_model_file_becomes_config_json_and_model_safetensors()
    {
        var model = folder.PathOf("teacher.safetensors");
        await File.WriteAllBytesAsync(model, Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 1));
        var hub = folder.PathOf("hub");

        var result = await Cli.RunAsync(folder.Path, "export", model, "--out", hub);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("records no normalisation: using the Fashion-MNIST training split's (mean 0.2860, std 0.3530)", result.Stdout);
        Assert.Contains($"timm.create_model(\"local-dir:{hub}\", pretrained=True)", result.Stdout);
        Assert.Equal(await File.ReadAllBytesAsync(model), await File.ReadAllBytesAsync(Path.Combine(hub, "model.safetensors")));
        var config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(hub, "config.json"))).RootElement;
        Assert.Equal(Checkpoints.TeacherSpec.Width, config.GetProperty("model_args").GetProperty("embed_dim").GetInt32());
        Assert.Equal(0.2860, config.GetProperty("pretrained_cfg").GetProperty("mean")[0].GetDouble(), 4);
        Assert.Equal("Ankle boot", config.GetProperty("label_names")[9].GetString());
    }

    [Theory]
    [InlineData("no-such-model.safetensors", "neither a file nor a SHA-256 digest")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "is not in the store")]
    public async Task What_cannot_be_exported_is_named_in_one_line(string model, string reason)
    {
        var result = await Cli.RunAsync(folder.Path, "export", model, "--out", folder.PathOf("hub"), "--store", folder.PathOf("store"));

        Assert.NotEqual(0, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.Contains(reason, line);
        Assert.False(Directory.Exists(folder.PathOf("hub")));
    }
}
