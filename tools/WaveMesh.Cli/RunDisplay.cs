using WaveMesh.Contracts;
using WaveMesh.Messaging;

namespace WaveMesh.Cli;

/// <summary>What a person sees while a run goes: a bar for the job in progress and a line for every job that ends.</summary>
sealed class RunDisplay(ConsoleProgress progress)
{
    public IDisposable Attach(ISubscriber events) => events.Subscribe<IntegrationEvent>((e, _) =>
    {
        Show(e);
        return Task.CompletedTask;
    });

    void Show(IntegrationEvent e)
    {
        switch (e)
        {
            case StageProgress p:
                progress.Show(p.Description, p.Step, p.Steps, p.Loss, p.ExamplesPerSecond, TimeSpan.FromSeconds(p.ElapsedSeconds));
                break;
            case TeacherChanged t:
                progress.Line($"  teacher {t.Size} ready ({t.Name}, {Short(t.TeacherDigest)})");
                break;
            case TemplatesDistilled t:
                Done(t.Stats, $"templates distilled: {t.TemplateParameters:N0} parameters, auxiliary model {t.AuxAccuracy:P2}");
                break;
            case ScalersTrained s:
                Done(s.Stats, $"scalers of {s.Target}: {s.Scalers:N0} numbers");
                break;
            case TargetFinetuned f when f.Method == "teacher":
                Done(f.Stats, $"teacher {f.Target} trained ({f.Stats.Steps} steps)");
                break;
            case TargetFinetuned f:
                Done(f.Stats, $"{f.Target} {f.Method}: {f.Stats.Steps} stage-3 steps");
                break;
            case TargetEvaluated v:
                Done(v.Stats, $"{v.Subject.Replace('/', ' ')}: test accuracy {v.Accuracy:P2}");
                break;
            case StageFailed f:
                progress.Line($"  x {f.Description} FAILED: {f.Reason}");
                break;
        }
    }

    void Done(StageStats stats, string text) =>
        progress.Line(stats.Cached ? $"  = {text} (cached)" : $"  + {text} ({ConsoleProgress.Format(TimeSpan.FromSeconds(stats.Seconds))})");

    static string Short(string digest) => digest.Length > 12 ? digest[..12] : digest;
}
