namespace WaveMesh.Reporting.Internal;

/// <summary>Summary of repeated measurements over seeds.</summary>
internal readonly record struct SeedStats(int N, double Mean, double Std)
{
    /// <summary>Mean and sample (n − 1) standard deviation of the finite values; non-finite ones are ignored.</summary>
    public static SeedStats Of(IEnumerable<double> values)
    {
        var xs = values.Where(double.IsFinite).ToArray();
        if (xs.Length == 0)
        {
            return new SeedStats(0, double.NaN, double.NaN);
        }

        var mean = xs.Average();
        var std = xs.Length > 1 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1)) : 0.0;
        return new SeedStats(xs.Length, mean, std);
    }

    /// <summary>"82.00 ± 2.00 (3)" in percent, "80.00 (n=1)" for one seed, "—" for none.</summary>
    public string ToPercentCell() => N switch
    {
        0 => Fmt.Missing,
        1 => $"{Fmt.PercentNumber(Mean)} (n=1)",
        _ => $"{Fmt.PercentNumber(Mean)} ± {Fmt.PercentNumber(Std)} ({N})",
    };
}
