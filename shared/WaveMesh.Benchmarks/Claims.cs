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

    /// <summary>
    /// Issue 9's acceptance, judged on the cells there are: teacher and auxiliary model; the initialisation worth an
    /// epoch; no dip; WAVE above scratch; WAVE against weight selection on sizes unlike the teacher; WAVE after one
    /// epoch against scratch after three. A claim with no cells to judge it is not met and says so.
    /// </summary>
    public static IReadOnlyList<Claim> Evaluate(IReadOnlyList<BenchCell> cells, double teacherAccuracy, double auxAccuracy, ModelSize teacher)
    {
        var claims = new List<Claim>
        {
            new("Teacher at least 91% on the Fashion-MNIST test set, the auxiliary model within 1.5 points of it",
                teacherAccuracy >= 0.91 && teacherAccuracy - auxAccuracy <= 0.015,
                $"teacher {teacher}: {P(teacherAccuracy)}; auxiliary model: {P(auxAccuracy)} ({(teacherAccuracy - auxAccuracy) * 100:0.00} points under it)"),
        };
        var sizes = cells.Select(c => new ModelSize(c.Depth, c.Width, c.Heads)).Distinct().OrderBy(s => s.Depth).ThenBy(s => s.Width).ToList();
        (double Mean, double Std, int N) At(ModelSize s, string method, double budget) =>
            Stat(cells.Where(c => c.Depth == s.Depth && c.Width == s.Width && c.Heads == s.Heads && c.Method == method && c.BudgetEpochs == budget));
        static double Spread(params (double Mean, double Std, int N)[] stats) => stats.Max(x => double.IsNaN(x.Std) ? 0 : x.Std);
        string Pts(double d) => (d * 100).ToString("+0.00;-0.00", CultureInfo.InvariantCulture);

        // Judges `test` on every size that has the cells it needs; not met when no size has them.
        void Judge(string text, string none, Func<ModelSize, (bool Applies, bool Ok, string Evidence)> test)
        {
            var evidence = new List<string>();
            bool met = true, any = false;
            foreach (var s in sizes)
            {
                var (applies, ok, e) = test(s);
                if (!applies) continue;
                any = true;
                met &= ok;
                evidence.Add($"{s}: {e}{(ok ? "" : " NOT MET")}");
            }
            claims.Add(new(text, any && met, any ? string.Join("; ", evidence) : none));
        }

        Judge("The initialisation is worth at least one epoch: WAVE at initialisation at or above scratch after one epoch, every size",
            "no cells at budgets 0 and 1 yet", s =>
            {
                var (w, r) = (At(s, Methods.Wave, 0), At(s, Methods.Scratch, 1));
                return (w.N > 0 && r.N > 0, w.Mean >= r.Mean, $"WAVE@0 {P(w.Mean)} vs scratch@1 {P(r.Mean)}");
            });
        Judge("No dip: WAVE at a quarter epoch not below WAVE at initialisation by more than 0.5 points, every size",
            "no WAVE cells at budgets 0 and 0.25 yet", s =>
            {
                var (w0, w1) = (At(s, Methods.Wave, 0), At(s, Methods.Wave, 0.25));
                return (w0.N > 0 && w1.N > 0, w1.Mean >= w0.Mean - 0.005, $"{P(w0.Mean)} -> {P(w1.Mean)} ({Pts(w1.Mean - w0.Mean)})");
            });
        Judge("WAVE above scratch at a quarter epoch and at one epoch by more than twice the seed spread (two seeds or more), every size",
            "no cells at budgets 0.25 and 1 yet", s =>
            {
                var parts = new List<string>();
                bool ok = true, applies = false;
                foreach (var budget in new[] { 0.25, 1.0 })
                {
                    var (w, r) = (At(s, Methods.Wave, budget), At(s, Methods.Scratch, budget));
                    if (w.N == 0 || r.N == 0) { ok = false; continue; }
                    applies = true;
                    double spread = Spread(w, r);
                    ok &= w.N >= 2 && r.N >= 2 && w.Mean - r.Mean > 2 * spread;
                    parts.Add($"{budget:0.##} ep {Pts(w.Mean - r.Mean)} pts vs 2x spread {2 * spread * 100:0.00} (n={w.N}/{r.N})");
                }
                return (applies, ok, string.Join(", ", parts));
            });
        Judge("WAVE at or above weight selection at every budget from a quarter epoch on, every size unlike the teacher in depth and width",
            "no weight-selection cells yet", s =>
            {
                if (s.Depth == teacher.Depth || s.Width == teacher.Width) return (false, true, "");
                var parts = new List<string>();
                bool ok = true;
                foreach (var budget in cells.Select(c => c.BudgetEpochs).Distinct().Where(b => b >= 0.25).Order())
                {
                    var (w, x) = (At(s, Methods.Wave, budget), At(s, Methods.WeightSelection, budget));
                    if (w.N == 0 || x.N == 0) continue;
                    ok &= w.Mean >= x.Mean;
                    parts.Add($"{budget:0.##} ep {Pts(w.Mean - x.Mean)}");
                }
                return (parts.Count > 0, ok, string.Join(", ", parts));
            });

        // WAVE after one epoch against scratch after three, on at least three sizes.
        var pairs = sizes.Select(s => (Size: s, Wave: At(s, Methods.Wave, 1), Scratch: At(s, Methods.Scratch, 3))).Where(x => x.Wave.N > 0 && x.Scratch.N > 0).ToList();
        claims.Add(new("WAVE after one epoch at or above scratch after three epochs (three sizes or more)",
            pairs.Count >= 3 && pairs.All(x => x.Wave.Mean >= x.Scratch.Mean),
            pairs.Count == 0 ? "no 3-epoch scratch cells yet"
                : string.Join("; ", pairs.Select(x => $"{x.Size}: WAVE@1 {P(x.Wave.Mean)} vs scratch@3 {P(x.Scratch.Mean)}{(x.Wave.Mean >= x.Scratch.Mean ? "" : " NOT MET")}"))
                  + (pairs.Count < 3 ? $" (only {pairs.Count} size{(pairs.Count == 1 ? "" : "s")} measured)" : "")));
        return claims;
    }
}
