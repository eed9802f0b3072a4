using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Reporting;

namespace WaveMesh.Embedded;

/// <summary>Turns a finished run's state into the report the main job writes (report.json, report.md, the chart).</summary>
public static class RunReportBuilder
{
    public static RunReport Build(RunState state, DateTime startedAt, double seconds, string configDescription)
    {
        var teacher = state.Teacher;
        var teacherSpec = ModelMapping.Spec(teacher.Family, teacher.Size);
        var templates = state.Templates;
        var d = state.Definition;
        var targets = state.Branches
            .Where(b => b.IsComplete && b.Finetuned is not null)
            .Select(b =>
            {
                var f = b.Finetuned!;
                int stage2 = b.Scalers?.Stats.Steps ?? 0;
                double branchSeconds = (b.Scalers?.Stats.Seconds ?? 0) + f.Stats.Seconds + b.Init!.Stats.Seconds + b.Final!.Stats.Seconds;
                bool cached = f.Stats.Cached && (b.Scalers?.Stats.Cached ?? true) && b.Init.Stats.Cached && b.Final.Stats.Cached;
                return new TargetResult(b.Target.Depth, b.Target.Width, b.Target.Heads, f.Parameters, b.Method, b.Init.Accuracy,
                    b.Final.Accuracy, f.Stats.Steps, stage2, branchSeconds,
                    f.Curve.Select(c => new Reporting.CurvePoint(c.Step, c.Accuracy)).ToList(), cached);
            })
            .OrderBy(t => t.Params).ThenBy(t => Array.IndexOf(Methods.All, t.Method))
            .ToList();
        return new RunReport(state.Teacher.RunId, startedAt, seconds, configDescription,
            new TeacherSummary(teacher.TeacherDigest, teacher.Size.Depth, teacher.Size.Width, teacher.Size.Heads, teacherSpec.ParameterCount,
                state.TeacherEvaluation?.Accuracy ?? double.NaN),
            new TemplatesSummary(templates?.TemplatesDigest ?? "", d.Templates.Size, templates?.TemplateParameters ?? 0,
                d.Auxiliary.Depth, d.Auxiliary.Width, d.Auxiliary.Heads, templates?.AuxAccuracy ?? double.NaN, templates?.Stats.Seconds ?? 0),
            targets);
    }
}
