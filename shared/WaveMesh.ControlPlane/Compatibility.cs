using WaveMesh.Contracts;
using WaveMesh.Pipeline;

namespace WaveMesh.ControlPlane;

/// <summary>
/// Whether a teacher can drive a pipeline, checked before any job is published and before anything is stored: the
/// teacher must take the pipeline's data set as it is (image size, channels, classes) with the pipeline family's patch
/// size (weight selection and the templates' patch embedding depend on it), and every target and the auxiliary model
/// must follow the template rules (width a multiple of the template size, heads dividing width).
/// </summary>
/// <remarks>
/// The teacher's depth and width are not a reason to refuse: a target bigger than the teacher is allowed (weight
/// selection simply does not apply to it; the run marks that method not applicable for that size). Differences in MLP
/// ratio or pooling are not refused either, for the same reason: they only rule out weight selection.
/// </remarks>
public static class Compatibility
{
    /// <summary>
    /// Every reason a teacher of <paramref name="teacherFamily"/> and <paramref name="teacherSize"/> cannot drive
    /// <paramref name="pipeline"/>, one clause each, in a fixed order (input, classes, patch size, then the sizes);
    /// empty when it can. <paramref name="teacherSize"/> is taken for completeness and refuses nothing (see remarks).
    /// </summary>
    public static IReadOnlyList<string> Problems(ModelFamily teacherFamily, ModelSize teacherSize, PipelineDefinition pipeline)
    {
        ArgumentNullException.ThrowIfNull(teacherFamily);
        ArgumentNullException.ThrowIfNull(teacherSize);
        ArgumentNullException.ThrowIfNull(pipeline);
        var data = pipeline.Family;
        var problems = new List<string>();
        if (teacherFamily.ImageSize != data.ImageSize || teacherFamily.Channels != data.Channels)
            problems.Add($"the teacher takes {Shape(teacherFamily)} images, the data set ({pipeline.Data.Name}) has {Shape(data)}");
        if (teacherFamily.Classes != data.Classes)
            problems.Add($"the teacher has {teacherFamily.Classes} classes, the data set {data.Classes}");
        if (teacherFamily.PatchSize != data.PatchSize)
            problems.Add($"the teacher's patch size is {teacherFamily.PatchSize}, the pipeline's (family.patch_size) {data.PatchSize}");
        problems.AddRange(SizeProblems(pipeline));
        return problems;
    }

    /// <summary>
    /// The template rules for the auxiliary model and every target (<see cref="RunConfig"/> reports the same ones when it
    /// reads a configuration, so a definition read from YAML never has any; one built in code might).
    /// </summary>
    public static IReadOnlyList<string> SizeProblems(PipelineDefinition pipeline)
    {
        var problems = new List<string>();
        int w = pipeline.Templates.Size;
        void Check(string what, ModelSize size)
        {
            if (size.Width < 1 || size.Heads < 1) problems.Add($"{what} {size.Slug}: width and heads must be positive");
            else if (size.Width % size.Heads != 0) problems.Add($"{what} {size.Slug}: heads ({size.Heads}) must divide width ({size.Width})");
            if (w > 0 && size.Width % w != 0) problems.Add($"{what} {size.Slug}: width {size.Width} is not a multiple of the template size {w}");
        }
        Check("auxiliary", pipeline.Auxiliary);
        foreach (var target in pipeline.Targets) Check("target", target);
        return problems;
    }

    /// <summary>
    /// The one-line refusal for <paramref name="problems"/> between pipeline <paramref name="pipeline"/> and teacher
    /// <paramref name="teacher"/> (its name and version, "fmnist v2"): "pipeline tiny cannot use teacher fmnist v2: the
    /// teacher takes 32x32x3 images, the data set (fashion-mnist) has 28x28x1; the teacher has 100 classes, the data set 10".
    /// </summary>
    public static string Describe(string pipeline, string teacher, IReadOnlyList<string> problems) =>
        $"pipeline {pipeline} cannot use teacher {teacher}: {string.Join("; ", problems)}";

    static string Shape(ModelFamily f) => $"{f.ImageSize}x{f.ImageSize}x{f.Channels}";
}
