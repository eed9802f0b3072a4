using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace WaveMesh.Messaging;

/// <summary>WaveMesh's own traces and metrics (exported by the services' OpenTelemetry set-up under the name "WaveMesh").</summary>
public static class Telemetry
{
    public const string Name = "WaveMesh";
    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    /// <summary>Attribute names of WaveMesh's spans.</summary>
    public static class Tags
    {
        public const string Job = "wavemesh.job";
        public const string JobKey = "wavemesh.job_key";
        public const string RunId = "wavemesh.run_id";
        public const string Worker = "wavemesh.worker";
        public const string Attempt = "wavemesh.attempt";
    }

    public static readonly Histogram<double> StageDuration = Meter.CreateHistogram<double>("wavemesh.stage.duration", "s", "Wall time of a stage job");
    public static readonly UpDownCounter<int> JobsInFlight = Meter.CreateUpDownCounter<int>("wavemesh.jobs.in_flight", "{job}", "Jobs running on this worker");
    public static readonly Histogram<double> QueueLag = Meter.CreateHistogram<double>("wavemesh.queue.lag", "s", "From a job being asked for to a worker starting it");

    static readonly Dictionary<string, (double StepsPerSecond, double ExamplesPerSecond)> rates = [];

    static Telemetry()
    {
        Meter.CreateObservableGauge("wavemesh.train.steps_per_second", () => Rates(r => r.StepsPerSecond), "{step}/s", "Training steps per second of running jobs");
        Meter.CreateObservableGauge("wavemesh.train.examples_per_second", () => Rates(r => r.ExamplesPerSecond), "{example}/s", "Examples per second of running jobs");
        Meter.CreateObservableGauge("wavemesh.process.memory", () => Process.GetCurrentProcess().WorkingSet64, "By", "Working set of the process");
    }

    /// <summary>Remembers the latest training rate of a stage, for the gauges.</summary>
    public static void ReportRate(string stage, double stepsPerSecond, double examplesPerSecond)
    {
        lock (rates) rates[stage] = (stepsPerSecond, examplesPerSecond);
    }

    public static void ClearRate(string stage)
    {
        lock (rates) rates.Remove(stage);
    }

    static IEnumerable<Measurement<double>> Rates(Func<(double StepsPerSecond, double ExamplesPerSecond), double> pick)
    {
        lock (rates) return rates.Select(kv => new Measurement<double>(pick(kv.Value), new KeyValuePair<string, object?>("stage", kv.Key))).ToList();
    }
}
