using WaveMesh.Contracts;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>Tiny pipeline configurations (template size 16, auxiliary 2x32x2, a few steps per stage); the teacher is uploaded.</summary>
public static class TinyConfigs
{
    /// <summary>The tiny pipeline of the embedded tests: two targets, every method (weight selection applies to 1x16x1 only).</summary>
    public const string Pipeline = """
        templates: { size: 16, matrix: 4, vector: 2, embedding: 4 }
        auxiliary: 2x32x2
        distill: { epochs: 0.03 }
        scalers: { steps: 15, subset: 1000 }
        finetune: { epochs: 0.01, curve_points: 2 }
        targets: [1x16x1, 2x48x3]
        """;

    /// <summary>WAVE only, one target; <paramref name="distillEpochs"/> long enough to interrupt the distillation.</summary>
    public static string WaveOnly(double distillEpochs, string targets = "[1x16x1]") => $$"""
        templates: { size: 16, matrix: 4, vector: 2, embedding: 4 }
        auxiliary: 2x32x2
        distill: { epochs: {{distillEpochs.ToString(System.Globalization.CultureInfo.InvariantCulture)}} }
        scalers: { steps: 15, subset: 1000 }
        finetune: { epochs: 0.01, curve_points: 0 }
        methods: [wave]
        targets: {{targets}}
        """;
}

/// <summary>Fields every stage result has.</summary>
public static class Results
{
    public static StageStats Stats(IntegrationEvent e) => MessageTypes.Stats(e) ?? throw new ArgumentException(e.GetType().Name);

    public static string JobKey(IntegrationEvent e) => MessageTypes.JobKey(e) ?? throw new ArgumentException(e.GetType().Name);

    /// <summary>Init and final accuracy of every branch (size/method) from a run's evaluations.</summary>
    public static IReadOnlyDictionary<string, (double? Init, double? Final)> Branches(IEnumerable<IntegrationEvent> events)
    {
        var branches = new SortedDictionary<string, (double? Init, double? Final)>(StringComparer.Ordinal);
        foreach (var v in events.OfType<TargetEvaluated>())
        {
            var parts = v.Subject.Split('/');
            if (parts.Length != 3) continue;
            var key = $"{parts[0]}/{parts[1]}";
            var b = branches.GetValueOrDefault(key);
            branches[key] = parts[2] == "init" ? (v.Accuracy, b.Final) : (b.Init, v.Accuracy);
        }
        return branches;
    }

    /// <summary>The results (not progress or announcements) among <paramref name="events"/>.</summary>
    public static IEnumerable<IntegrationEvent> Of(IEnumerable<IntegrationEvent> events) =>
        events.Where(MessageTypes.IsResult);
}
