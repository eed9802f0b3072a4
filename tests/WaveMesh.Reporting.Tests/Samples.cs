namespace WaveMesh.Reporting.Tests;

/// <summary>Small but realistic reports, with values chosen so the expected text can be worked out by hand.</summary>
internal static class Samples
{
    public static readonly TeacherSummary Teacher = new("teacher-digest", 12, 384, 6, 21_665_000, 0.8531);

    public static readonly TemplatesSummary Templates = new("templates-digest", 4, 123_456, 2, 64, 2, 0.6125, 321.5);

    public static readonly Guid RunId = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

    public static readonly DateTime Started = new(2026, 3, 14, 15, 9, 26, DateTimeKind.Utc);

    /// <summary>Two sizes given out of order (bigger first, methods shuffled) so sorting is visible.</summary>
    public static RunReport Run() => new(
        RunId, Started, 4567.8, "preset=tiny seed=7", Teacher, Templates,
        [
            Target(12, 384, 6, 21_665_000, "scratch", 0.1003, 0.6215, 0, [new(500, 0.40), new(1000, 0.58)]),
            Target(12, 384, 6, 21_665_000, "wave", 0.4512, 0.7846, 200, [new(500, 0.70), new(1000, 0.76)]),
            Target(6, 192, 3, 5_500_000, "weight_selection", 0.1234, 0.7012, 0, [new(500, 0.55)]),
            Target(6, 192, 3, 5_500_000, "wave", 0.4401, 0.7355, 150, []),
            Target(6, 192, 3, 5_500_000, "scratch", 0.0999, 0.6001, 0, [new(500, 0.41)]),
        ]);

    public static TargetResult Target(int d, int w, int h, long p, string method, double init, double final, int stage2, IReadOnlyList<CurvePoint> curve) =>
        new(d, w, h, p, method, init, final, 1200, stage2, 61.4, curve, Cached: method == "scratch");

    public static BenchCell Cell(string method, long seed, double budget, double accuracy, int d = 6, int w = 192, int h = 3, long p = 5_500_000) =>
        new(d, w, h, p, method, seed, budget, (int)(budget * 400), method == "wave" && budget > 0 ? 40 : 0, accuracy, 12.5);

    public static BenchmarkReport Bench(IReadOnlyList<BenchCell> cells, IReadOnlyList<Claim>? claims = null, IReadOnlyList<ThroughputRow>? throughput = null) => new(
        "wavemesh bench --sizes small", Started, "2 cores, 24 GiB", Teacher, Templates, 900, cells,
        claims ?? [], 55.5, throughput ?? []);

    /// <summary>Three seeds of wave at every budget, scratch missing its largest budget, and a second size.</summary>
    public static IReadOnlyList<BenchCell> FullCells()
    {
        var cells = new List<BenchCell>();
        foreach (var budget in new[] { 0, 0.25, 1, 3, 10 })
        {
            for (var seed = 0; seed < 3; seed++)
            {
                cells.Add(Cell("wave", seed, budget, 0.80 + 0.02 * seed));
                if (budget < 10)
                {
                    cells.Add(Cell("scratch", seed, budget, 0.10 + 0.05 * budget + 0.01 * seed));
                }
            }

            cells.Add(Cell("weight_selection", 0, budget, 0.15 + 0.05 * budget));
            cells.Add(Cell("wave", 0, budget, 0.50 + 0.03 * budget, 12, 384, 6, 21_665_000));
        }

        return cells;
    }
}
