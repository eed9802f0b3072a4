using System.Globalization;
using WaveMesh.Contracts;
using WaveMesh.Pipeline;
using WaveMesh.Reporting;

namespace WaveMesh.Benchmarks;

/// <summary>The targets the benchmark sets itself, judged on whatever cells exist; each says what shows it either way.</summary>
public static class Claims
{
    static string P(double x) => (100 * x).ToString("F2", CultureInfo.InvariantCulture) + "%";

    static (double Mean, double Std, int N) Stat(IEnumerable<BenchCell> cells)
    {
        var a = cells.Select(c => c.Accuracy).Where(double.IsFinite).ToArray();
        if (a.Length == 0) return (double.NaN, double.NaN, 0);
        double mean = a.Average();
        double std = a.Length > 1 ? Math.Sqrt(a.Sum(x => (x - mean) * (x - mean)) / (a.Length - 1)) : double.NaN;
        return (mean, std, a.Length);
    }

    public static IReadOnlyList<Claim> Evaluate(IReadOnlyList<BenchCell> cells, double teacherAccuracy, ModelSize teacher)
    {
        var claims = new List<Claim>
        {
            new("Teacher reaches at least 90% on the Fashion-MNIST test set", teacherAccuracy >= 0.90, $"teacher {teacher}: {P(teacherAccuracy)}"),
        };
        var sizes = cells.Select(c => new ModelSize(c.Depth, c.Width, c.Heads)).Distinct().OrderBy(s => s.Depth).ThenBy(s => s.Width).ToList();
        IEnumerable<BenchCell> At(ModelSize s, string method, double budget) =>
            cells.Where(c => c.Depth == s.Depth && c.Width == s.Width && c.Heads == s.Heads && c.Method == method && c.BudgetEpochs == budget);

        // WAVE above scratch at every budget up to one epoch, by more than twice the larger seed spread.
        var evidence = new List<string>();
        bool met = true, any = false;
        foreach (var s in sizes)
        foreach (var budget in cells.Select(c => c.BudgetEpochs).Distinct().Where(b => b <= 1).Order())
        {
            var w = Stat(At(s, Methods.Wave, budget));
            var r = Stat(At(s, Methods.Scratch, budget));
            if (w.N == 0 || r.N == 0) continue;
            any = true;
            double spread = Math.Max(double.IsNaN(w.Std) ? 0 : w.Std, double.IsNaN(r.Std) ? 0 : r.Std);
            bool ok = w.N >= 2 && r.N >= 2 && w.Mean - r.Mean > 2 * spread;
            met &= ok;
            if (!ok || budget == 1)
                evidence.Add($"{s} at {budget:0.##} ep: {(w.Mean - r.Mean) * 100:+0.00;-0.00} pts vs 2x spread {2 * spread * 100:0.00} (n={w.N}/{r.N}){(ok ? "" : " NOT MET")}");
        }
        claims.Add(new("For every size, WAVE above scratch at every budget up to 1 epoch, by more than twice the seed spread",
            any && met, any ? string.Join("; ", evidence) : "no cells yet"));

        // WAVE at or above weight selection at equal budget, for sizes whose depth and width both differ from the teacher's.
        evidence.Clear();
        met = true; any = false;
        foreach (var s in sizes)
        {
            bool unlike = s.Depth != teacher.Depth && s.Width != teacher.Width;
            var wins = new List<string>();
            foreach (var budget in cells.Select(c => c.BudgetEpochs).Distinct().Order())
            {
                var w = Stat(At(s, Methods.Wave, budget));
                var x = Stat(At(s, Methods.WeightSelection, budget));
                if (w.N == 0 || x.N == 0) continue;
                bool ok = w.Mean >= x.Mean;
                wins.Add($"{budget:0.##}ep {(w.Mean - x.Mean) * 100:+0.00;-0.00}");
                if (unlike) { any = true; met &= ok; }
            }
            if (wins.Count > 0) evidence.Add($"{s}{(unlike ? "" : " (like the teacher)")}: {string.Join(", ", wins)}");
        }
        claims.Add(new("WAVE at or above weight selection at equal budget for sizes unlike the teacher's (every size reported)",
            any && met, evidence.Count > 0 ? string.Join("; ", evidence) : "no weight-selection cells yet"));

        // The paper's headline at small scale: WAVE after 1 epoch against scratch after 10.
        evidence.Clear();
        met = true; any = false;
        foreach (var s in sizes)
        {
            var w = Stat(At(s, Methods.Wave, 1));
            var r = Stat(At(s, Methods.Scratch, 10));
            if (w.N == 0 || r.N == 0) continue;
            any = true;
            met &= w.Mean >= r.Mean;
            evidence.Add($"{s}: WAVE@1 {P(w.Mean)} vs scratch@10 {P(r.Mean)}");
        }
        claims.Add(new("WAVE after 1 epoch matches or beats scratch after 10 epochs", any && met, any ? string.Join("; ", evidence) : "no 10-epoch scratch cells yet"));
        return claims;
    }
}
