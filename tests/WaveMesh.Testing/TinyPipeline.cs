using System.Globalization;

namespace WaveMesh.Testing;

/// <summary>
/// The tiny run configuration of every end-to-end test (embedded, command line, RabbitMQ): template size 16, auxiliary
/// 2x32x2, a few steps per stage, targets 1x16x1 and 2x48x3 (weight selection applies to 1x16x1 only).
/// </summary>
public static class TinyPipeline
{
    public static readonly string[] Targets = ["1x16x1", "2x48x3"];

    /// <summary>A pipeline whose teacher comes from elsewhere (uploaded, or registered).</summary>
    /// <param name="targets">Target sizes (default <see cref="Targets"/>).</param>
    /// <param name="methods">Methods to run (default: every one).</param>
    /// <param name="distillEpochs">Stage 1's length; longer to have a distillation to interrupt.</param>
    /// <param name="curvePoints">Accuracy points inside stage 3.</param>
    public static string Pipeline(IEnumerable<string>? targets = null, IEnumerable<string>? methods = null, double distillEpochs = 0.03, int curvePoints = 2)
    {
        var lines = new List<string>
        {
            "templates: { size: 16, matrix: 4, vector: 2, embedding: 4 }",
            "auxiliary: 2x32x2",
            $"distill: {{ epochs: {distillEpochs.ToString(CultureInfo.InvariantCulture)} }}",
            "scalers: { steps: 15, subset: 1000 }",
            $"finetune: {{ epochs: 0.01, curve_points: {curvePoints} }}",
        };
        if (methods is not null) lines.Add($"methods: [{string.Join(", ", methods)}]");
        lines.Add($"targets: [{string.Join(", ", targets ?? Targets)}]");
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>The whole run, teacher included (a 2x32x2 trained for 0.05 epochs in the run): what the embedded mode and the command line run.</summary>
    public static string WithTeacher(params string[] extraTargets) =>
        "teacher: { size: 2x32x2, epochs: 0.05 }\n" + Pipeline(targets: [.. Targets, .. extraTargets]);
}
