using System.Security.Cryptography;
using System.Text;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Stages;

/// <summary>
/// A reference model's logits for every image of a training set, computed once and kept in the store. Stage 2 of
/// every size imitates the same teacher on the same subset, `wavemesh init` of one size after another does too, and
/// stage-1 variants distil the same teacher again: each of them used to run the reference over the images anew. The
/// logits are an artifact like any other (safetensors, one tensor [images, classes], stored by content and verified
/// when read), named by a record whose key is the reference and the data; a missing, corrupt or misshapen file is
/// computed again. Without augmentation only: with it the reference answers every batch afresh.
/// </summary>
public static class ReferenceLogits
{
    public const string Kind = "logits";
    const string TensorName = "logits";

    /// <summary>The record naming the logits of <paramref name="reference"/> (an identity, e.g. "teacher DIGEST") on <paramref name="data"/>.</summary>
    public static string RecordKey(string reference, DatasetRef data) =>
        "logits/" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(reference + "\n" + ContractJson.Serialize(data))));

    /// <summary>
    /// The logits of <paramref name="model"/> (known to the store as <paramref name="reference"/>) for every image of
    /// <paramref name="data"/>'s training split, on the context's device; null under <paramref name="augmentation"/>,
    /// where the reference answers every augmented batch afresh and there is nothing to keep.
    /// </summary>
    public static Tensor? Get(StageContext context, string reference, DatasetRef data, TrainingData loaded, nn.Module<Tensor, Tensor> model,
        Augmentation augmentation)
    {
        if (augmentation != Augmentation.None) return null;
        var key = RecordKey(reference, data);
        if (TryLoad(context, key, loaded.Train.Count) is { } stored) return stored;
        var logits = Evaluation.Logits(model, loaded.Train, loaded.Normalization, context.Device);
        var digest = StageArtifacts.SaveLogits(context, TensorName, logits, reference);
        context.Records.SetRecordAsync(key, ContractJson.Serialize(new LogitsIndex(digest, reference, loaded.Train.Count))).GetAwaiter().GetResult();
        return logits;
    }

    static Tensor? TryLoad(StageContext context, string key, int images)
    {
        if (context.Records.GetRecordAsync(key).GetAwaiter().GetResult() is not { } json) return null;
        try
        {
            var index = ContractJson.Deserialize<LogitsIndex>(json);
            using var file = SafetensorsFile.Open(StageArtifacts.Fetch(context, index.Digest));
            var info = file.Tensors.SingleOrDefault(t => t.Name == TensorName);
            if (info is null || info.Shape.Length != 2 || info.Shape[0] != images) return null;
            using var cpu = tensor(file.ReadFloat32(TensorName), info.Shape);
            return cpu.to(context.Device, copy: true);
        }
        catch (Exception e) when (e is ArtifactNotFoundException or ArtifactCorruptException or SafetensorsFormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>The record behind <see cref="ReferenceLogits.RecordKey"/>: which artifact holds the logits, of whom, for how many images.</summary>
public sealed record LogitsIndex(string Digest, string Reference, int Images);
