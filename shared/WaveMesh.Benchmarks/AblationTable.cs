using System.Globalization;
using System.Text;
using System.Text.Json;
using WaveMesh.Contracts;
using WaveMesh.Pipeline;

namespace WaveMesh.Benchmarks;

/// <summary>
/// The ablations of the WAVE recipe side by side: one row per ablation and size with WAVE, weight selection and
/// scratch at each budget (mean over the seeds run), the auxiliary model's accuracy and the stage-1 time. Reads
/// every ablation's folder of cells and results.json, and the first comment line of its configuration for what changed.
/// </summary>
public static class AblationTable
{
    public sealed record Ablation(string Name, string Change, double AuxAccuracy, double Stage1Seconds, double TeacherAccuracy, IReadOnlyList<StoredCell> Cells);

    /// <summary>Every ablation under <paramref name="resultsDirectory"/> whose configuration is in <paramref name="configDirectory"/>, by name.</summary>
    public static IReadOnlyList<Ablation> Load(string resultsDirectory, string configDirectory)
    {
        var list = new List<Ablation>();
        if (!Directory.Exists(resultsDirectory)) return list;
        foreach (var dir in Directory.EnumerateDirectories(resultsDirectory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            var config = Path.Combine(configDirectory, name + ".yaml");
            var change = File.Exists(config) ? File.ReadLines(config).FirstOrDefault(l => l.StartsWith('#'))?.TrimStart('#', ' ') ?? "" : "";
            double aux = double.NaN, stage1 = double.NaN, teacher = double.NaN;
            var results = Path.Combine(dir, "results.json");
            if (File.Exists(results))
            {
                using var json = JsonDocument.Parse(File.ReadAllText(results));
                if (json.RootElement.TryGetProperty("templates", out var t) && t.ValueKind == JsonValueKind.Object)
                {
                    aux = Number(t, "aux_accuracy");
                    stage1 = Number(t, "seconds");
                }
                if (json.RootElement.TryGetProperty("teacher", out var te) && te.ValueKind == JsonValueKind.Object)
                    teacher = Number(te, "accuracy");
            }
            var cells = Directory.Exists(Path.Combine(dir, "cells"))
                ? Directory.EnumerateFiles(Path.Combine(dir, "cells"), "*.json").Order(StringComparer.Ordinal)
                    .Select(f => ContractJson.Deserialize<StoredCell>(File.ReadAllText(f))).ToList()
                : [];
            list.Add(new Ablation(name, change, aux, stage1, teacher, cells));
        }
        return list;
    }

    static double Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    public static string ToMarkdown(IReadOnlyList<Ablation> ablations, IReadOnlyList<double> budgets)
    {
        var sb = new StringBuilder();
        sb.Append("# Ablations of the WAVE recipe\n\n");
        sb.Append("Written by `./wavemesh bench-table` from `benchmarks/results/ablations/*/` (cells run by `benchmarks/ablate.sh NAME`; ");
        sb.Append("configurations in `benchmarks/ablations/`, each extending `base.yaml` and changing what its row says). ");
        sb.Append("Test accuracy in %, mean over the seeds run (n in brackets when more than one), by stage-3 budget in epochs; ");
        sb.Append("WAVE's stage-2 steps are paid out of its budget. ws = weight selection. ");
        sb.Append("'stage 1 s' is the wall time of that ablation's stage 1 as it ran, often beside other work on the 2-core machine: ");
        sb.Append("it is not a speed measurement. What the rows say is written up in the README (Benchmark).\n\n");
        var teacher = ablations.Select(a => a.TeacherAccuracy).Where(double.IsFinite).Distinct().ToList();
        if (teacher.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"Teacher accuracy: {string.Join(", ", teacher.Select(P))}%.\n\n");
        string B(double b) => b.ToString("0.##", CultureInfo.InvariantCulture);
        sb.Append("| ablation | what changed | aux | stage 1 s | size |");
        foreach (var b in budgets) sb.Append(CultureInfo.InvariantCulture, $" wave {B(b)} |");
        foreach (var b in budgets.Where(b => b > 0)) sb.Append(CultureInfo.InvariantCulture, $" ws {B(b)} |");
        foreach (var b in budgets.Where(b => b > 0)) sb.Append(CultureInfo.InvariantCulture, $" scratch {B(b)} |");
        sb.Append('\n').Append(string.Concat(Enumerable.Repeat("|---", 5 + budgets.Count + 2 * budgets.Count(b => b > 0)))).Append("|\n");
        foreach (var a in ablations)
        {
            var sizes = a.Cells.Select(c => new ModelSize(c.Cell.Depth, c.Cell.Width, c.Cell.Heads)).Distinct()
                .OrderBy(s => s.Depth).ThenBy(s => s.Width).ToList();
            foreach (var size in sizes)
            {
                string Cell(string method, double budget)
                {
                    var xs = a.Cells.Where(c => c.Cell.Method == method && c.Cell.BudgetEpochs == budget &&
                                                c.Cell.Depth == size.Depth && c.Cell.Width == size.Width && c.Cell.Heads == size.Heads)
                        .Select(c => c.Cell.Accuracy).ToList();
                    return xs.Count switch { 0 => "—", 1 => P(xs[0]), _ => $"{P(xs.Average())} ({xs.Count})" };
                }
                sb.Append(CultureInfo.InvariantCulture, $"| {a.Name} | {a.Change} | {(double.IsFinite(a.AuxAccuracy) ? P(a.AuxAccuracy) : "—")} | ");
                sb.Append(double.IsFinite(a.Stage1Seconds) ? a.Stage1Seconds.ToString("0", CultureInfo.InvariantCulture) : "—");
                sb.Append(CultureInfo.InvariantCulture, $" | {size} |");
                foreach (var b in budgets) sb.Append(' ').Append(Cell(Methods.Wave, b)).Append(" |");
                foreach (var b in budgets.Where(b => b > 0)) sb.Append(' ').Append(Cell(Methods.WeightSelection, b)).Append(" |");
                foreach (var b in budgets.Where(b => b > 0)) sb.Append(' ').Append(Cell(Methods.Scratch, b)).Append(" |");
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }

    static string P(double x) => (100 * x).ToString("F2", CultureInfo.InvariantCulture);
}
