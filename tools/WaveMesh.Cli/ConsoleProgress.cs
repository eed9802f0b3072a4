using System.Diagnostics;
using WaveMesh.Engine.Training;

namespace WaveMesh.Cli;

/// <summary>
/// Progress of long training stages: a live bar on a terminal (steps, loss, examples/s, time left), and one plain
/// line per tenth of the work when the output is redirected, so logs stay readable.
/// </summary>
sealed class ConsoleProgress : IProgress<StepReport>
{
    readonly bool live = !Console.IsOutputRedirected;
    readonly Stopwatch sinceDraw = Stopwatch.StartNew();
    string label = "";
    int lastTenth = -1;

    /// <summary>The name shown in front of the next stage's bar.</summary>
    public void Begin(string name)
    {
        label = name;
        lastTenth = -1;
    }

    public void Report(StepReport r)
    {
        bool done = r.Step >= r.Steps;
        if (live)
        {
            if (!done && sinceDraw.ElapsedMilliseconds < 250) return;
            sinceDraw.Restart();
            Console.Write("\r" + Line(r, bar: true).PadRight(Math.Max(0, SafeWidth() - 1)));
            if (done) Console.WriteLine();
            return;
        }
        int tenth = (int)(10L * r.Step / Math.Max(1, r.Steps));
        if (tenth == lastTenth && !done) return;
        lastTenth = tenth;
        Console.WriteLine(Line(r, bar: false));
    }

    string Line(StepReport r, bool bar)
    {
        double fraction = (double)r.Step / Math.Max(1, r.Steps);
        string b = bar ? "[" + new string('#', (int)(fraction * 24)).PadRight(24, '.') + "] " : "";
        string name = string.IsNullOrEmpty(label) ? r.Stage : label;
        return $"  {name,-28} {b}{fraction,4:P0}  step {r.Step}/{r.Steps}  loss {r.Loss:F3}  {r.ExamplesPerSecond,5:F0} img/s  " +
               $"{Format(r.Elapsed)} elapsed, {Format(r.Remaining)} left";
    }

    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : $"{t.Minutes}:{t.Seconds:00}";

    static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 120; }
        catch (IOException) { return 120; }
    }
}
