using WaveMesh.Contracts;
using WaveMesh.Testing;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>Tiny pipeline configurations (<see cref="TinyPipeline"/>); the teacher is uploaded.</summary>
public static class TinyConfigs
{
    /// <summary>The tiny pipeline of the embedded tests: two targets, every method (weight selection applies to 1x16x1 only).</summary>
    public static readonly string Pipeline = TinyPipeline.Pipeline();

    /// <summary>WAVE only, on <paramref name="targets"/> (default 1x16x1); <paramref name="distillEpochs"/> long enough to interrupt the distillation.</summary>
    public static string WaveOnly(double distillEpochs, params string[] targets) =>
        TinyPipeline.Pipeline(targets.Length == 0 ? ["1x16x1"] : targets, methods: ["wave"], distillEpochs: distillEpochs, curvePoints: 0);
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
