using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace WaveMesh.TransportBench;

public sealed record ProcessLoad(int Pid, double CpuPercent, string Command);

/// <summary>A look at the machine: load average and the processes (other than this one) using CPU right now.</summary>
public sealed record LoadSnapshot(DateTime At, string LoadAverage, double OwnCpuPercent, List<ProcessLoad> Busiest);

public static class Machine
{
    public static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    public static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        }
        catch (IOException) { return "?"; }
    }

    public static long MemTotalBytes() => StatusKb("/proc/meminfo", "MemTotal") * 1024;

    public static string Gc() => $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC, {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")}";

    public static string Runtime() => $".NET {Environment.Version}, {RuntimeInformation.OSDescription}";

    static long StatusKb(string file, string field)
    {
        foreach (var line in File.ReadLines(file))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return 0;
    }

    /// <summary>Resident set size of this process now (VmRSS).</summary>
    public static long RssBytes() => StatusKb("/proc/self/status", "VmRSS") * 1024;

    /// <summary>Peak resident set size since the start or since the last <see cref="ResetPeak"/> (VmHWM).</summary>
    public static long PeakRssBytes() => StatusKb("/proc/self/status", "VmHWM") * 1024;

    /// <summary>Resets VmHWM to the current RSS (Linux: write 5 to clear_refs); false when the kernel refuses.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>CPU use of every process over <paramref name="window"/> (from /proc/*/stat), the busiest first.</summary>
    public static async Task<LoadSnapshot> SnapshotAsync(TimeSpan window, int top = 6)
    {
        var before = CpuTicks();
        await Task.Delay(window);
        var after = CpuTicks();
        double ticks = 100.0 * window.TotalSeconds;   // USER_HZ is 100 on Linux
        int self = Environment.ProcessId;
        var loads = after.Where(kv => before.ContainsKey(kv.Key))
            .Select(kv => (Pid: kv.Key, Cpu: (kv.Value - before[kv.Key]) / ticks * 100))
            .ToList();
        double own = loads.FirstOrDefault(l => l.Pid == self).Cpu;
        var busiest = loads.Where(l => l.Pid != self && l.Cpu >= 1).OrderByDescending(l => l.Cpu).Take(top)
            .Select(l => new ProcessLoad(l.Pid, Math.Round(l.Cpu, 1), Command(l.Pid))).ToList();
        return new LoadSnapshot(DateTime.UtcNow, LoadAverage(), Math.Round(own, 1), busiest);
    }

    static Dictionary<int, long> CpuTicks()
    {
        var result = new Dictionary<int, long>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                // After "pid (comm) ": field 3 (state) is index 0, utime (14) index 11, stime (15) index 12.
                result[pid] = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { }
        }
        return result;
    }

    static string Command(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
            if (text.Length == 0) text = File.ReadAllText($"/proc/{pid}/comm").Trim();
            return text.Length > 110 ? text[..110] + "…" : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
    }
}

/// <summary>Summary statistics of a sample, in milliseconds.</summary>
public sealed record Summary(int N, double Mean, double P50, double P90, double P99, double Max, double Min)
{
    public static Summary Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = values.Order().ToArray();
        return new Summary(sorted.Length, Round(sorted.Average()), Round(Percentile(sorted, 50)), Round(Percentile(sorted, 90)),
            Round(Percentile(sorted, 99)), Round(sorted[^1]), Round(sorted[0]));
    }

    /// <summary>Nearest-rank percentile.</summary>
    static double Percentile(double[] sorted, double p)
    {
        int rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    static double Round(double v) => Math.Round(v, 3);
}

public static class Ticks
{
    public static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
}
