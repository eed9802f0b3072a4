using WaveMesh.Contracts;
using WaveMesh.ControlPlane;

namespace WaveMesh.Services.Tests;

/// <summary>The teacher report built from hand-made records: no service, no training.</summary>
public sealed class Reporting_a_teacher
{
    static readonly ModelSize Small = new(2, 64, 2);
    static readonly ModelSize Wide = new(3, 96, 3);
    static readonly DateTime T0 = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
    static readonly StageStats Stats = new(1, 1, 1, false, "w");

    static string Digest(char c) => new(c, 64);

    static TeacherVersion Version(int n, char digest) => new(n, Digest(digest), T0.AddDays(n), 1000, new ModelFamily(), new ModelSize(6, 128, 4));

    static TargetEvaluated Final(ModelSize size, string method, double accuracy, int minute) =>
        new($"k-{size.Slug}-{method}-{minute}", Digest('m'), new EvaluationSubject(size, method, EvaluationSubject.Final).ToString(), accuracy, 0.5, 10_000, Stats)
        {
            CreatedAt = T0.AddMinutes(minute),
        };

    static RunRecord Run(string teacher, TeacherVersion version, params IntegrationEvent[] events) =>
        new(Guid.NewGuid(), "p", T0, new TeacherChanged(version.Digest, $"{teacher} v{version.Version}", new ModelFamily(), version.Size),
            "targets: [2x64x2]", [.. events.Select(Envelope.Of)], RunRecord.Running);

    [Fact]
    public void Lists_each_version_s_newest_final_accuracy_per_size_and_method_and_the_models_it_promoted()
    {
        var v1 = Version(1, 'a');
        var v2 = Version(2, 'b');
        var teacher = new TeacherRecord("fm", [v1, v2]);
        var teacherEvaluation = new TargetEvaluated("kt", v1.Digest, EvaluationSubject.Teacher, 0.9, 0.3, 10_000, Stats);
        var runs = new[]
        {
            Run("fm", v1, teacherEvaluation, Final(Small, "wave", 0.80, 1), Final(Small, "scratch", 0.70, 2),
                new TargetEvaluated("ki", Digest('i'), new EvaluationSubject(Small, "wave", EvaluationSubject.Init).ToString(), 0.6, 1, 10_000, Stats)),
            Run("fm", v1, Final(Small, "wave", 0.82, 10)),                 // a later run of the same version: the newest counts
            Run("fm", v2, Final(Small, "wave", 0.78, 20), Final(Wide, "wave", 0.85, 21)),
            Run("other", v1, Final(Small, "wave", 0.99, 30)),             // another teacher with the same digest: not this report's
        };
        var models = new[]
        {
            new ModelEntry("fm", Small, new PromotedEntry(v1.Digest, "wave", 0.82, Digest('s'), T0.AddMinutes(11), runs[1].RunId),
                [new PromotionRecord(runs[1].RunId, T0.AddMinutes(11), v1.Digest, "wave", 0.82, Digest('s'), true, null),
                 new PromotionRecord(runs[2].RunId, T0.AddMinutes(22), v2.Digest, "wave", 0.78, Digest('t'), false, "worse")]),
            new ModelEntry("fm", Wide, new PromotedEntry(v2.Digest, "wave", 0.85, Digest('w'), T0.AddMinutes(22), runs[2].RunId),
                [new PromotionRecord(runs[2].RunId, T0.AddMinutes(22), v2.Digest, "wave", 0.85, Digest('w'), true, null)]),
            new ModelEntry("other", Small, new PromotedEntry(v1.Digest, "wave", 0.99, Digest('o'), T0, runs[3].RunId), []),
        };

        var report = TeacherReport.Build(teacher, runs, models);

        Assert.Equal("fm", report.Teacher);
        var (first, second) = (report.Versions[0], report.Versions[1]);
        Assert.Equal((1, v1.Digest, 0.9), (first.Version, first.Digest, first.TeacherAccuracy!.Value));
        Assert.Equal(["2x64x2 scratch 0.7", "2x64x2 wave 0.82"], first.Accuracy.Select(a => $"{a.Size} {a.Method} {a.Accuracy}"));
        Assert.Equal(runs[1].RunId, first.Accuracy.Single(a => a.Method == "wave").RunId);
        Assert.Equal(["3x96x3 wave 0.85"], second.Accuracy.Where(a => a.Size == "3x96x3").Select(a => $"{a.Size} {a.Method} {a.Accuracy}"));
        Assert.Null(second.TeacherAccuracy);
        Assert.Equal([Digest('s')], first.Promoted.Select(p => p.Digest));
        Assert.Equal([Digest('w')], second.Promoted.Select(p => p.Digest));
        Assert.Equal([Digest('s'), Digest('w')], report.Promoted.Select(p => p.Digest));
    }
}
