using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.TransportBench;

public sealed record BenchOptions
{
    public int Jobs { get; init; } = 300;
    public int Warmup { get; init; } = 30;
    public int Runs { get; init; } = 3;
    /// <summary>Runs of the Dapr pipeline with one slot per worker, where every busy answer waits the sidecar's delivery retry.</summary>
    public int SlowRuns { get; init; } = 1;
    public int[] Slots { get; init; } = [1, 8];
    public long ArtifactMiB { get; init; } = 128;
    public int ArtifactRepetitions { get; init; } = 3;
    /// <summary>The fake daprd's pause before delivering a message again after RETRY (dapr/resiliency.yaml deliveryRetry: 5 s).</summary>
    public int DaprRetryMs { get; init; } = 5000;
    public bool SkipArtifacts { get; init; }
    public bool SkipRabbitMq { get; init; }
    public bool SkipDapr { get; init; }
    public string? Out { get; init; }

    public override string ToString() =>
        $"{Jobs} jobs (+{Warmup} warm-up), {Runs} pipeline runs per slot setting ({string.Join(", ", Slots)}), {ArtifactMiB} MiB artifact ×{ArtifactRepetitions}, " +
        $"fake daprd retry {DaprRetryMs} ms{(SkipArtifacts ? ", no artifacts" : "")}{(SkipRabbitMq ? ", no rabbitmq" : "")}{(SkipDapr ? ", no dapr" : "")}";

    public static BenchOptions? Parse(string[] args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                o = args[i] switch
                {
                    "--jobs" => o with { Jobs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--warmup" => o with { Warmup = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--runs" => o with { Runs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--slow-runs" => o with { SlowRuns = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--slots" => o with { Slots = Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() },
                    "--artifact-mib" => o with { ArtifactMiB = long.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--artifact-reps" => o with { ArtifactRepetitions = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--dapr-retry-ms" => o with { DaprRetryMs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--skip-artifacts" => o with { SkipArtifacts = true },
                    "--skip-rabbitmq" => o with { SkipRabbitMq = true },
                    "--skip-dapr" => o with { SkipDapr = true },
                    "--out" => o with { Out = Next() },
                    "-h" or "--help" => throw new ArgumentException("help"),
                    _ => throw new ArgumentException($"unknown option {args[i]}"),
                };
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                if (e.Message != "help") Console.Error.WriteLine($"error: {e.Message}");
                Console.Error.WriteLine("usage: dotnet run -c Release --project benchmarks/WaveMesh.TransportBench [-- --jobs 300 --warmup 30 --runs 3 " +
                                        "--slow-runs 1 --slots 1,8 --artifact-mib 128 --artifact-reps 3 --dapr-retry-ms 5000 --skip-artifacts --skip-rabbitmq --skip-dapr --out DIR]");
                return null;
            }
        }
        if (o.Jobs < 1 || o.Warmup < 0 || o.Runs < 1 || o.SlowRuns < 1 || o.Slots.Length == 0 || o.Slots.Any(s => s < 1) || o.ArtifactMiB < 1 || o.ArtifactRepetitions < 1 || o.DaprRetryMs < 0)
        {
            Console.Error.WriteLine("error: counts must be positive (warm-up and retry may be 0)");
            return null;
        }
        return o;
    }

    /// <summary>The repository root (the folder holding WaveMesh.sln) above the current directory or the program.</summary>
    public static string? FindRepository()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "WaveMesh.sln"))) return dir.FullName;
        return null;
    }
}

public sealed record MachineFacts(int Cores, string Cpu, long MemoryBytes, string Runtime, string Gc, string RedisVersion, string RabbitMqVersion);

public sealed class BenchReport
{
    public DateTime StartedAt { get; init; }
    public double Seconds { get; set; }
    public required string Command { get; init; }
    public required BenchOptions Options { get; init; }
    public required MachineFacts Machine { get; init; }
    public required LoadSnapshot LoadAtStart { get; init; }
    public LoadSnapshot? LoadAtEnd { get; set; }
    public Dictionary<string, string> Transports { get; } = [];
    public List<LatencyResult> Latency { get; } = [];
    public List<PipelineResult> Pipelines { get; } = [];
    public ArtifactResult? Artifacts { get; set; }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string Json() => JsonSerializer.Serialize(this, JsonOptions) + "\n";

    static string F(double v, int digits = 2) => double.IsNaN(v) ? "–" : v.ToString("F" + digits, CultureInfo.InvariantCulture);
    static string MiB(long b) => (b / (double)(1 << 20)).ToString("F0", CultureInfo.InvariantCulture);

    static string Label(string transport) => transport == "dapr" ? "Dapr SDK + fake daprd (in-process)" : "MassTransit on RabbitMQ + Redis";

    static string Busy(LoadSnapshot s) => s.Busiest.Count == 0 ? "none above 1 % of a core"
        : string.Join("; ", s.Busiest.Take(4).Select(p => $"{p.CpuPercent:F0} % `{Shorten(p.Command)}`"));

    static string Shorten(string command) => command.Length > 70 ? command[..70] + "…" : command;

    public string Markdown()
    {
        var b = new StringBuilder();
        b.AppendLine("# Transport benchmark");
        b.AppendLine();
        b.AppendLine($"Measured {StartedAt:yyyy-MM-dd HH:mm} UTC in {Seconds:F0} s with `{Command}` (loopback only).");
        b.AppendLine();
        b.AppendLine($"- Machine: {Machine.Cores} cores ({Machine.Cpu}), {Machine.MemoryBytes >> 30} GiB, {Machine.Runtime}, {Machine.Gc}; " +
                     $"Redis {Machine.RedisVersion} and RabbitMQ {Machine.RabbitMqVersion} of `scripts/services.sh`.");
        b.AppendLine($"- Load average (1, 5, 15 min) at start `{LoadAtStart.LoadAverage}`, at end `{LoadAtEnd?.LoadAverage ?? "?"}`.");
        b.AppendLine($"- Other processes using CPU at start (2 s sample): {Busy(LoadAtStart)}.");
        if (LoadAtEnd is not null) b.AppendLine($"- ... and at end: {Busy(LoadAtEnd)}.");
        foreach (var (name, what) in Transports) b.AppendLine($"- `{name}`: {what}.");
        b.AppendLine();

        if (Latency.Count > 0)
        {
            var first = Latency[0];
            b.AppendLine("## 1. Event-to-job-start latency");
            b.AppendLine();
            b.AppendLine($"{first.Jobs} `EvaluateModel` jobs (after {first.Warmup} warm-up jobs) published one after another through the orchestrator's " +
                         "`IEventBus`; each only once the previous one has ended (its result reached the orchestrator and the worker is idle). " +
                         "Time from just before `PublishAsync` to the moment the evaluator's `JobHost` starts the (instant) stage unit, " +
                         "i.e. after the delivery, the recorded-result check and the lease claim. Milliseconds.");
            b.AppendLine();
            b.AppendLine("| transport | n | p50 | p90 | p99 | max | mean |");
            b.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var l in Latency)
                b.AppendLine($"| {Label(l.Transport)} | {l.ToStart.N} | {F(l.ToStart.P50)} | {F(l.ToStart.P90)} | {F(l.ToStart.P99)} | {F(l.ToStart.Max)} | {F(l.ToStart.Mean)} |");
            b.AppendLine();
            b.AppendLine("Where the time goes (p50 / p99, ms from just before `PublishAsync`):");
            b.AppendLine();
            b.AppendLine("| transport | `PublishAsync` returned | delivered to the worker | delivery → unit started (JobHost) | result at the orchestrator |");
            b.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var l in Latency)
                b.AppendLine($"| {Label(l.Transport)} | {F(l.PublishCall.P50)} / {F(l.PublishCall.P99)} | {F(l.ToDelivery.P50)} / {F(l.ToDelivery.P99)} | " +
                             $"{F(l.DeliveryToStart.P50)} / {F(l.DeliveryToStart.P99)} | {F(l.ToResult.P50)} / {F(l.ToResult.P99)} |");
            b.AppendLine();
        }

        if (Pipelines.Count > 0)
        {
            var p0 = Pipelines[0];
            b.AppendLine("## 2. Orchestration overhead per stage");
            b.AppendLine();
            b.AppendLine($"Whole runs driven by `PipelineController` over the same bus: the default four targets × two methods (WAVE, scratch), " +
                         $"{p0.JobsPerRun} jobs per run, {p0.Depth} stages deep (distil → scalers → finetune → evaluate); every stage unit answers at once, " +
                         "one worker host per stage. Each setting starts with one warm-up run (not counted; none where a run takes close to a minute); the wall time runs from `StartAsync` to the run's completion. " +
                         "\"Busy answers\": deliveries that met a worker with every slot taken (MassTransit: consumes that waited ≥ 0.4 s for a slot; " +
                         "Dapr: RETRY answers).");
            b.AppendLine();
            b.AppendLine("| transport | slots per worker | runs | wall per run, median (min–max) ms | wall / jobs, ms | wall / stages on the critical path, ms | busy answers per run |");
            b.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var p in Pipelines)
                b.AppendLine($"| {Label(p.Transport)} | {p.Slots} | {p.Runs} | {F(p.MedianWallMs, 0)} ({F(p.MinWallMs, 0)}–{F(p.MaxWallMs, 0)}) | " +
                             $"{F(p.MedianPerJobMs, 1)} | {F(p.MedianPerStageOnPathMs, 1)} | {F(p.SlotWaits / (double)p.Runs, 1)} |");
            b.AppendLine();
        }

        if (Artifacts is { } a)
        {
            b.AppendLine("## 3. Artifact put/get throughput");
            b.AppendLine();
            b.AppendLine($"A {a.Bytes >> 20} MiB random file (in the page cache), {a.ChunkBytes >> 10} KiB chunks/values, {a.Repetitions} repetitions " +
                         "(median, range in brackets). `put` is `PutFileAsync` (hashes the file, then streams it chunk by chunk, hashing again; " +
                         "the store is emptied between repetitions); `get` is `GetFileAsync` into an empty cache folder (every chunk and the whole " +
                         "file verified). Raw Redis is plain `SET`/`GET` of the same bytes, without hashing. MiB/s = 2^20 bytes per second. " +
                         "Peak RSS is this process's resident set (VmHWM, reset before each operation, after a full GC), the largest over the " +
                         "repetitions; allocations are the managed bytes allocated during the operation (median).");
            b.AppendLine();
            b.AppendLine("| path | operation | s | MiB/s | peak RSS above the start of the operation, MiB | managed bytes allocated, MiB |");
            b.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var op in a.Ops)
                b.AppendLine($"| {op.Path} | {op.Operation} | {F(op.MedianSeconds)} | {F(op.MedianMiBPerSecond, 0)} ({F(op.MinMiBPerSecond, 0)}–{F(op.MaxMiBPerSecond, 0)}) | " +
                             $"{MiB(op.MaxPeakAboveBeforeBytes)} | {MiB(op.MedianManagedAllocatedBytes)} |");
            b.AppendLine();
        }

        b.AppendLine("Caveats: one process hosts the orchestrator and all workers (each with its own bus connection), on loopback; " +
                     "no OpenTelemetry exporter, logging at Warning; the orchestrator is `PipelineController` alone, not the control service " +
                     "(which also writes the run record per event). The Dapr rows measure the Dapr SDK (gRPC client, Dapr.AspNetCore " +
                     "subscriptions) against the fake daprd of the tests, whose pub/sub and state are in memory in this process — " +
                     "not a real daprd, RabbitMQ or Redis path. Raw numbers: transport.json.");
        return b.ToString();
    }
}
