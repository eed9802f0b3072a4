using System.Text.Json;
using System.Text.Json.Nodes;
using WaveMesh.Safetensors;

namespace WaveMesh.Models;

/// <summary>
/// A WaveMesh model as a folder in the layout of timm's models on the Hugging Face hub: <c>model.safetensors</c> (the
/// state dict under the keys <c>timm.create_model(...).state_dict()</c> has for that configuration) and
/// <c>config.json</c>, written as timm's <c>save_for_hf</c> writes it (timm/models/_hub.py, save_config_for_hf) with
/// <c>model_args</c> given, so that <c>timm.create_model("local-dir:DIR", pretrained=True)</c> or
/// <c>"hf-hub:ORG/NAME"</c> builds the same ViT and its data config gives the normalisation training used.
/// </summary>
public static class TimmHub
{
    /// <summary>
    /// A plain ViT entrypoint of timm (vision_transformer.py). Its own defaults (patch 16, width 192, depth 12, 3 heads)
    /// are all overridden by <c>model_args</c>; it sets nothing else (unlike the *_gap_, CLIP or SigLIP variants).
    /// </summary>
    public const string Architecture = "vit_tiny_patch16_224";
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    /// <summary>timm's <c>global_pool</c> for a pooling: "token" (class token) or "avg" (mean of the patch tokens).</summary>
    public static string GlobalPool(Pooling pooling) => pooling == Pooling.Token ? "token" : "avg";

    /// <summary>
    /// The <c>config.json</c> of <paramref name="spec"/>. Top-level keys in save_config_for_hf's order; <c>model_args</c>
    /// only with keys <c>VisionTransformer.__init__</c> has had since timm 0.9.2; <c>pretrained_cfg</c> only with
    /// <c>PretrainedCfg</c> fields (timm/models/_pretrained.py), nulls dropped except pool_size, first_conv, classifier.
    /// </summary>
    public static JsonObject Config(VitSpec spec, InputNormalization normalization, IReadOnlyList<string>? labelNames = null)
    {
        if (normalization.Mean.Length != spec.Channels)
            throw new ArgumentException($"the normalisation has {normalization.Mean.Length} channels, the model takes {spec.Channels}");
        var pool = GlobalPool(spec.Pooling);
        var config = new JsonObject
        {
            ["architecture"] = Architecture,
            ["num_classes"] = spec.Classes,
            ["num_features"] = spec.Width,
            ["global_pool"] = pool,
        };
        if (labelNames is { Count: > 0 })
        {
            if (labelNames.Count != spec.Classes) throw new ArgumentException($"{labelNames.Count} label names for {spec.Classes} classes");
            config["label_names"] = new JsonArray([.. labelNames.Select(n => (JsonNode?)JsonValue.Create(n))]);
        }
        config["model_args"] = new JsonObject
        {
            ["img_size"] = spec.ImageSize,
            ["patch_size"] = spec.PatchSize,
            ["in_chans"] = spec.Channels,
            ["num_classes"] = spec.Classes,
            ["global_pool"] = pool,
            ["embed_dim"] = spec.Width,
            ["depth"] = spec.Depth,
            ["num_heads"] = spec.Heads,
            ["mlp_ratio"] = Float(spec.MlpRatio),
            ["qkv_bias"] = true,
            ["class_token"] = spec.Pooling == Pooling.Token,
            ["no_embed_class"] = false,
        };
        config["pretrained_cfg"] = new JsonObject
        {
            ["custom_load"] = false,
            ["input_size"] = new JsonArray(spec.Channels, spec.ImageSize, spec.ImageSize),
            ["fixed_input_size"] = true,
            ["interpolation"] = "bilinear",
            ["crop_pct"] = Float(1),
            ["crop_mode"] = "center",
            ["mean"] = new JsonArray([.. normalization.Mean.Select(m => (JsonNode?)JsonValue.Create((double)m))]),
            ["std"] = new JsonArray([.. normalization.Std.Select(s => (JsonNode?)JsonValue.Create((double)s))]),
            ["num_classes"] = spec.Classes,
            ["pool_size"] = null,
            // timm adapts (and so expects to find) the first convolution only for 1 or 3 input channels.
            ["first_conv"] = spec.Channels is 1 or 3 ? "patch_embed.proj" : null,
            ["classifier"] = "head",
        };
        return config;
    }

    /// <summary>A whole number written as Python's json.dump writes a float ("4.0"), as timm's own configs have it.</summary>
    static JsonNode Float(int value) => JsonNode.Parse(value.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".0")!;

    /// <summary>
    /// Writes <paramref name="modelPath"/> (a ViT safetensors file with timm names) into <paramref name="folder"/> as a
    /// timm hub folder. The weights are copied byte for byte (their metadata records the spec, the data set and the
    /// normalisation); <paramref name="normalization"/> is used when the file records none.
    /// </summary>
    /// <returns>The config written.</returns>
    public static JsonObject Export(string modelPath, string folder, InputNormalization? normalization = null, IReadOnlyList<string>? labelNames = null)
    {
        VitSpec spec;
        InputNormalization norm;
        using (var file = SafetensorsFile.Open(modelPath))
        {
            spec = VitCheckpoint.SpecOf(file);
            VitLayout.Check(spec, file.Tensors.ToDictionary(t => t.Name, t => t.Shape));
            norm = InputNormalization.Of(file.Metadata) ?? normalization
                ?? throw new SpecException($"{modelPath} records no input normalisation ({MetadataKeys.Normalization}): give one (--mean, --std)");
        }
        var config = Config(spec, norm, labelNames);
        Directory.CreateDirectory(folder);
        File.Copy(modelPath, Path.Combine(folder, WeightsFile), overwrite: true);
        File.WriteAllText(Path.Combine(folder, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return config;
    }
}
