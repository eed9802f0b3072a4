using System.Text.Json.Nodes;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using WaveMesh.Safetensors;

namespace WaveMesh.Engine.Tests;

/// <summary>
/// A model exported as a timm hub folder has the config.json timm's save_for_hf writes for that configuration (with
/// model_args) and exactly the state-dict keys and shapes timm's VisionTransformer has: both checked against a fixture
/// derived from timm's source (Fixtures/timm-vit-hub.json says which files and functions).
/// </summary>
public sealed class Exporting_to_timm : IDisposable
{
    readonly string folder = Path.Combine(Path.GetTempPath(), "wavemesh-export-tests", Guid.NewGuid().ToString("N"));

    public Exporting_to_timm() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    static readonly JsonNode Fixture = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "timm-vit-hub.json")))!;

    static readonly string[] FashionMnistLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    static readonly InputNormalization Normalization = new([0.25f], [0.5f]);

    public static TheoryData<int> Cases => [0, 1];

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_folder_holds_timm_s_config_and_state_dict_keys_for_the_configuration(int index)
    {
        var expected = Fixture["cases"]![index]!;
        var pooling = Enum.Parse<Pooling>(expected["pooling"]!.GetValue<string>());
        var spec = new VitSpec { Depth = 2, Width = 64, Heads = 2, Pooling = pooling };
        var model = Path.Combine(folder, "model-in.safetensors");
        using (var vit = VisionTransformer.Create(spec, seed: 1))
            ModelFile.Save(vit, model, new Dictionary<string, string> { [MetadataKeys.Normalization] = Normalization.ToJson() });
        var hub = Path.Combine(folder, "hub");

        TimmHub.Export(model, hub, labelNames: FashionMnistLabels);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(hub, "config.json")))!;
        Assert.True(JsonNode.DeepEquals(expected["config"], config), $"config.json differs from the fixture:\n{config.ToJsonString()}");
        Assert.Equal(expected["config"]!.AsObject().Select(kv => kv.Key), config.AsObject().Select(kv => kv.Key));   // save_config_for_hf's order
        using var weights = SafetensorsFile.Open(Path.Combine(hub, "model.safetensors"));
        var keys = expected["state_dict"]!.AsArray().ToDictionary(e => e![0]!.GetValue<string>(), e => e![1]!.AsArray().Select(x => x!.GetValue<long>()).ToArray());
        Assert.Equal(keys.Keys.Order(StringComparer.Ordinal), weights.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.All(weights.Tensors, t => Assert.Equal(keys[t.Name], t.Shape));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(Path.Combine(hub, "model.safetensors")));   // the weights as they were, metadata included
    }

    [Fact]
    public void A_model_that_records_no_normalisation_needs_one_given()
    {
        var model = Path.Combine(folder, "bare.safetensors");
        using (var vit = VisionTransformer.Create(new VitSpec { Depth = 1, Width = 32, Heads = 2 }, seed: 1)) ModelFile.Save(vit, model);

        var e = Assert.Throws<SpecException>(() => TimmHub.Export(model, Path.Combine(folder, "hub")));
        var config = TimmHub.Export(model, Path.Combine(folder, "hub2"), new InputNormalization([0.3f], [0.4f]));

        Assert.Contains("records no input normalisation (wavemesh.normalization)", e.Message);
        Assert.False(Directory.Exists(Path.Combine(folder, "hub")));
        Assert.Equal(0.3f, (float)config["pretrained_cfg"]!["mean"]![0]!.GetValue<double>());
    }
}
