using System.Diagnostics;
using WaveMesh.Engine.Training;

namespace WaveMesh.Cli;

/// <summary>
/// Progress of long work: a live bar on a terminal (steps, loss, examples/s, time left), and when the output is
/// redirected one plain line per tenth of the work, or per half minute when a tenth takes longer, so logs stay readable.
/// </summary>
sealed class ConsoleProgress : IProgress<StepReport>
{
    readonly bool live = !Console.IsOutputRedirected;
    readonly Stopwatch sinceDraw = Stopwatch.StartNew();
    readonly object gate = new();
    string label = "";
    string current = "";
    int lastTenth = -1;

    /// <summary>The name shown in front of the next bar.</summary>
    public void Begin(string name)
    {
        lock (gate)
        {
            label = name;
            lastTenth = -1;
        }
    }

    public void Report(StepReport r) => Show(string.IsNullOrEmpty(label) ? r.Stage : label, r.Step, r.Steps, r.Loss, r.ExamplesPerSecond, r.Elapsed);

    /// <summary>Draws one progress state of the work called <paramref name="name"/>.</summary>
    public void Show(string name, int step, int steps, double loss, double examplesPerSecond, TimeSpan elapsed)
    {
        lock (gate)
        {
            if (name != current) { lastTenth = -1; current = name; }
            bool done = step >= steps;
            double fraction = (double)step / Math.Max(1, steps);
            var remaining = step <= 0 ? TimeSpan.Zero : elapsed / step * (steps - step);
            string text = $"  {name,-36} {{0}}{fraction,4:P0}  step {step}/{steps}  loss {loss:F3}  {examplesPerSecond,5:F0} img/s  " +
                          $"{Format(elapsed)} elapsed, {Format(remaining)} left";
            if (live)
            {
                if (!done && sinceDraw.ElapsedMilliseconds < 250) return;
                sinceDraw.Restart();
                string bar = "[" + new string('#', (int)(fraction * 20)).PadRight(20, '.') + "] ";
                Console.Write("\r" + string.Format(text, bar).PadRight(Math.Max(0, SafeWidth() - 1)));
                if (done) Console.WriteLine();
                return;
            }
            int tenth = (int)(10 * fraction);
            if (tenth == lastTenth && !done && sinceDraw.Elapsed < TimeSpan.FromSeconds(30)) return;
            lastTenth = tenth;
            sinceDraw.Restart();
            Console.WriteLine(string.Format(text, ""));
        }
    }

    /// <summary>A line of its own, after clearing a live bar.</summary>
    public void Line(string text)
    {
        lock (gate)
        {
            if (live) Console.Write("\r" + new string(' ', Math.Max(0, SafeWidth() - 1)) + "\r");
            Console.WriteLine(text);
        }
    }

    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : $"{t.Minutes}:{t.Seconds:00}";

    static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 120; }
        catch (IOException) { return 120; }
    }
}
