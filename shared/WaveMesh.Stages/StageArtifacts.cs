using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;

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

    public static string SaveTemplates(StageContext context, TemplateSet templates, string teacherDigest) =>
        Store(context, TemplatesKind, path => WaveFiles.SaveTemplates(templates, path, teacherDigest),
            new Dictionary<string, string> { [MetadataKeys.TeacherDigest] = teacherDigest });

    public static string SaveScalers(StageContext context, ScalerSet scalers, string templatesDigest) =>
        Store(context, ScalersKind, path => WaveFiles.SaveScalers(scalers, path, templatesDigest),
            new Dictionary<string, string> { [MetadataKeys.TemplatesDigest] = templatesDigest, [MetadataKeys.Target] = scalers.Target.Describe() });

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
