namespace WaveMesh.Reporting;

/// <summary>Test accuracy (a fraction in 0..1) measured after <paramref name="Step"/> stage-3 steps.</summary>
public sealed record CurvePoint(int Step, double Accuracy);

/// <summary>The trained teacher whose weights the WAVE templates are learned from.</summary>
public sealed record TeacherSummary(string Digest, int Depth, int Width, int Heads, long Parameters, double Accuracy);

/// <summary>The learned WAVE templates and the auxiliary network that was trained to produce them.</summary>
public sealed record TemplatesSummary(
    string Digest, int TemplateSize, long TemplateParameters, int AuxDepth, int AuxWidth, int AuxHeads, double AuxAccuracy, double Seconds);

/// <summary>One initialised-and-trained target network of one method.</summary>
/// <param name="Steps">Stage-3 (ordinary training) steps.</param>
/// <param name="Stage2Steps">Scaler-training steps; only WAVE has them, and they count against its budget.</param>
/// <param name="Seconds">Wall time of this branch.</param>
/// <param name="Curve">Test accuracy on a test subset during stage 3; may be empty.</param>
/// <param name="Cached">True when the result was reused from an earlier run instead of being recomputed.</param>
public sealed record TargetResult(
    int Depth, int Width, int Heads, long Params, string Method, double AccuracyAtInit, double AccuracyFinal,
    int Steps, int Stage2Steps, double Seconds, IReadOnlyList<CurvePoint> Curve, bool Cached);

/// <summary>Everything one run of the main job produced.</summary>
public sealed record RunReport(
    Guid RunId, DateTime StartedAt, double Seconds, string ConfigDescription, TeacherSummary Teacher,
    TemplatesSummary Templates, IReadOnlyList<TargetResult> Targets);

/// <summary>One (size, method, seed, budget) measurement of the benchmark; a budget of 0 epochs means at init.</summary>
public sealed record BenchCell(
    int Depth, int Width, int Heads, long Params, string Method, long Seed, double BudgetEpochs, int Steps, int Stage2Steps,
    double Accuracy, double Seconds);

/// <summary>A target the benchmark set out to meet, whether it was met, and what shows it.</summary>
public sealed record Claim(string Text, bool Met, string Evidence);

/// <summary>
/// Measured speed of one training or evaluation loop on one model; <see cref="FractionOfPeak"/> is against
/// <see cref="PeakGflops"/>, the matmul peak measured just before and just after the loop (0 when a report of an older
/// version measured the peak once for the whole run).
/// </summary>
public sealed record ThroughputRow(string Loop, string Model, double ExamplesPerSecond, double GflopsPerSecond, double FractionOfPeak,
    double PeakGflops = 0);

/// <summary>Everything the benchmark measured, possibly only part of it when it was run in parts.</summary>
public sealed record BenchmarkReport(
    string Command, DateTime Date, string Machine, TeacherSummary Teacher, TemplatesSummary Templates,
    double Stage1Seconds, IReadOnlyList<BenchCell> Cells, IReadOnlyList<Claim> Claims, double MatmulPeakGflops,
    IReadOnlyList<ThroughputRow> Throughput);
