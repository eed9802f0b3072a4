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

    /// <summary>A timm hub folder read as a teacher: its spec, the normalisation it was trained with, and its weights file.</summary>
    public sealed record HubModel(VitSpec Spec, InputNormalization Normalization, string WeightsPath, string Architecture);

    /// <summary>The head counts of timm's plain ViT entrypoints, for a config.json without model_args.</summary>
    static readonly Dictionary<string, int> DefaultHeads = new(StringComparer.Ordinal)
    {
        ["vit_tiny"] = 3, ["vit_small"] = 6, ["vit_medium"] = 8, ["vit_base"] = 12, ["vit_large"] = 16, ["vit_huge"] = 16,
    };

    /// <summary>Whether <paramref name="folder"/> looks like a timm hub folder (it holds a config.json).</summary>
    public static bool IsHubFolder(string folder) => Directory.Exists(folder) && File.Exists(Path.Combine(folder, ConfigFile));

    /// <summary>
    /// Reads a timm hub folder (<c>config.json</c> + <c>model.safetensors</c>) as WaveMesh can take it: a plain
    /// VisionTransformer (an architecture <c>vit_*</c>, class-token or average pooling, qkv bias, no register tokens,
    /// LayerScale, pre-norm or extra norms) whose weights match the shape <c>model_args</c> describe. Everything it
    /// cannot take is named in one <see cref="SpecException"/>.
    /// </summary>
    public static HubModel Read(string folder)
    {
        var configPath = Path.Combine(folder, ConfigFile);
        var weights = Path.Combine(folder, WeightsFile);
        if (!File.Exists(configPath)) throw new SpecException($"{folder} is not a timm hub folder: it has no {ConfigFile}");
        if (!File.Exists(weights))
            throw new SpecException(File.Exists(Path.Combine(folder, "pytorch_model.bin"))
                ? $"{folder} holds pytorch_model.bin but no {WeightsFile}: WaveMesh reads safetensors only (save with safe_serialization=True)"
                : $"{folder} has no {WeightsFile}");
        JsonObject config;
        try { config = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new SpecException($"{configPath} is empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SpecException($"{configPath} is not a JSON object: {e.Message}"); }

        var problems = new List<string>();
        var architecture = config["architecture"]?.GetValue<string>() ?? "";
        if (!architecture.StartsWith("vit_", StringComparison.Ordinal))
            problems.Add($"architecture '{architecture}' is not a timm VisionTransformer (vit_*)");
        var args = config["model_args"] as JsonObject ?? [];
        var pretrained = config["pretrained_cfg"] as JsonObject ?? (config.ContainsKey("pretrained_cfg") ? [] : config);   // timm's legacy flat format
        T? Arg<T>(string key) => args[key] is JsonValue v && v.TryGetValue<T>(out var x) ? x : default;
        bool Has(string key) => args[key] is not null;

        var pool = Has("global_pool") ? Arg<string>("global_pool") : "token";
        var classToken = !Has("class_token") || Arg<bool>("class_token");
        if (pool is not ("token" or "avg")) problems.Add($"global_pool '{pool}': WaveMesh pools by class token (token) or mean (avg)");
        if (pool == "avg" && classToken) problems.Add("average pooling with a class token (WaveMesh's mean pooling has none: class_token false)");
        if (pool == "token" && !classToken) problems.Add("token pooling without a class token");
        if (Has("qkv_bias") && !Arg<bool>("qkv_bias")) problems.Add("qkv_bias false (WaveMesh's attention has a qkv bias)");
        if (Has("no_embed_class") && Arg<bool>("no_embed_class")) problems.Add("no_embed_class true");
        if (Arg<int>("reg_tokens") > 0) problems.Add($"{Arg<int>("reg_tokens")} register tokens");
        if (Has("pre_norm") && Arg<bool>("pre_norm")) problems.Add("pre_norm true");
        if (args["init_values"] is JsonValue) problems.Add("LayerScale (init_values)");
        if (Has("qk_norm") && Arg<bool>("qk_norm")) problems.Add("qk_norm true");
        if (args["fc_norm"] is JsonValue fc && fc.TryGetValue<bool>(out var fcNorm) && fcNorm != (pool == "avg"))
            problems.Add($"fc_norm {fcNorm.ToString().ToLowerInvariant()} with global_pool '{pool}'");
        if (Has("mlp_ratio") && Arg<double>("mlp_ratio") is var ratio && ratio != Math.Round(ratio)) problems.Add($"mlp_ratio {ratio} (WaveMesh takes whole ratios)");

        int? heads = Has("num_heads") ? Arg<int>("num_heads") : null;
        foreach (var (prefix, count) in DefaultHeads)
            if (heads is null && architecture.StartsWith(prefix + "_", StringComparison.Ordinal)) heads = count;
        if (heads is null) problems.Add($"no num_heads in model_args, and '{architecture}' is not an entrypoint whose head count WaveMesh knows");

        float[]? Floats(string key) => pretrained[key] is JsonArray a ? [.. a.Select(x => (float)x!.GetValue<double>())] : null;
        var mean = Floats("mean");
        var std = Floats("std");
        if (mean is null || std is null) problems.Add("pretrained_cfg has no mean and std: the input normalisation the model was trained with");
        if (problems.Count > 0) throw new SpecException($"{folder}: WaveMesh cannot take this model: {string.Join("; ", problems)}");

        VitSpec spec;
        using (var file = SafetensorsFile.Open(weights))
        {
            spec = VitCheckpoint.SpecOf(file, heads);
            if (spec.Pooling != (pool == "avg" ? Pooling.Mean : Pooling.Token))
                throw new SpecException($"{folder}: config.json says global_pool '{pool}', the weights are laid out for {GlobalPool(spec.Pooling)}");
            VitLayout.Check(spec, file.Tensors.ToDictionary(t => t.Name, t => t.Shape));
        }
        var mismatches = new List<string>();
        void Same(string key, int fromWeights) { if (Has(key) && Arg<int>(key) != fromWeights) mismatches.Add($"{key} {Arg<int>(key)} (the weights: {fromWeights})"); }
        Same("embed_dim", spec.Width); Same("depth", spec.Depth); Same("patch_size", spec.PatchSize); Same("in_chans", spec.Channels);
        Same("num_classes", spec.Classes); Same("img_size", spec.ImageSize);
        if (Has("mlp_ratio") && (int)Arg<double>("mlp_ratio") != spec.MlpRatio) mismatches.Add($"mlp_ratio {Arg<double>("mlp_ratio")} (the weights: {spec.MlpRatio})");
        if (mean!.Length != spec.Channels || std!.Length != spec.Channels || std.Any(x => x <= 0))
            mismatches.Add($"mean and std of {mean.Length} and {std!.Length} channels for a model of {spec.Channels} (std must be positive)");
        if (mismatches.Count > 0) throw new SpecException($"{folder}: config.json and model.safetensors disagree: {string.Join("; ", mismatches)}");
        return new HubModel(spec, new InputNormalization(mean, std), weights, architecture);
    }
}
