using WaveMesh.Contracts;
using WaveMesh.Data;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Stages;

/// <summary>Models, templates and scalers in and out of the artifact store: written to a scratch file, then stored by content.</summary>
static class StageArtifacts
{
    public const string ModelKind = "vit";
    public const string TemplatesKind = "templates";
    public const string ScalersKind = "scalers";

    public static string Fetch(StageContext context, string digest) =>
        context.Store.GetFileAsync(digest).GetAwaiter().GetResult();

    public static VisionTransformer LoadModel(StageContext context, string digest) =>
        ModelFile.Load(Fetch(context, digest), context.Device);

    public static string SaveModel(StageContext context, VisionTransformer model, IReadOnlyDictionary<string, string>? extra = null) =>
        Store(context, ModelKind, path => ModelFile.Save(model, path, extra), extra);

    /// <summary>
    /// <paramref name="metadata"/> with what a model made on <paramref name="data"/> needs to be used elsewhere: the data
    /// set (and its archive's digest) and the normalisation its inputs went through.
    /// </summary>
    public static Dictionary<string, string> TrainedOn(DatasetRef data, Normalization normalization, Dictionary<string, string> metadata)
    {
        metadata[MetadataKeys.Dataset] = data.Name;
        if (data.Digest is { } digest) metadata[MetadataKeys.DatasetDigest] = digest;
        metadata[MetadataKeys.Normalization] = new InputNormalization(normalization.Mean, normalization.Std).ToJson();
        return metadata;
    }

    public static string SaveTemplates(StageContext context, TemplateSet templates, string teacherDigest) =>
        Store(context, TemplatesKind, path => WaveFiles.SaveTemplates(templates, path, teacherDigest),
            new Dictionary<string, string> { [MetadataKeys.TeacherDigest] = teacherDigest });

    public static string SaveScalers(StageContext context, ScalerSet scalers, string templatesDigest) =>
        Store(context, ScalersKind, path => WaveFiles.SaveScalers(scalers, path, templatesDigest),
            new Dictionary<string, string> { [MetadataKeys.TemplatesDigest] = templatesDigest, [MetadataKeys.Target] = scalers.Target.Describe() });

    /// <summary>One tensor (a reference model's logits) as a safetensors artifact of kind <see cref="ReferenceLogits.Kind"/>.</summary>
    public static string SaveLogits(StageContext context, string name, Tensor logits, string reference) =>
        Store(context, ReferenceLogits.Kind, path => TensorFile.Save(path, [KeyValuePair.Create(name, logits)], new Dictionary<string, string>
        {
            [MetadataKeys.Kind] = ReferenceLogits.Kind,
            [MetadataKeys.FormatVersion] = MetadataKeys.CurrentFormat,
            [MetadataKeys.Reference] = reference,
        }), new Dictionary<string, string> { [MetadataKeys.Reference] = reference });

    static string Store(StageContext context, string kind, Action<string> write, IReadOnlyDictionary<string, string>? metadata)
    {
        var path = Path.Combine(context.WorkDirectory, $"{kind}-{Guid.NewGuid():N}.safetensors");
        try
        {
            write(path);
            return context.Store.PutFileAsync(path, kind, metadata).GetAwaiter().GetResult().Digest;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
