using System.Globalization;
using WaveMesh.TransportBench;

// Transport benchmark of WaveMesh: event-to-job-start latency, orchestration overhead per stage and artifact throughput,
// on RabbitMQ (MassTransit) + Redis and on Dapr through the in-process fake daprd, in one run. See docs/deployment.md.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var options = BenchOptions.Parse(args);
if (options is null) return 2;

var repo = BenchOptions.FindRepository();
var outDir = Path.GetFullPath(options.Out ?? Path.Combine(repo ?? Directory.GetCurrentDirectory(), "benchmarks", "results"));
var scratch = Path.Combine(Path.GetTempPath(), "wavemesh-transport-bench", Guid.NewGuid().ToString("N")[..8]);
var startedAt = DateTime.UtcNow;
var clock = System.Diagnostics.Stopwatch.StartNew();

Log.Line($"WaveMesh transport benchmark: {options}");
Log.Line($"machine: {Environment.ProcessorCount} cores ({Machine.CpuModel()}), {Machine.MemTotalBytes() >> 30} GiB, {Machine.Runtime()}, {Machine.Gc()}");
var loadStart = await Machine.SnapshotAsync(TimeSpan.FromSeconds(2));
Log.Line($"load at start: {loadStart.LoadAverage}");
foreach (var p in loadStart.Busiest) Log.Line($"  busy: pid {p.Pid} {p.CpuPercent:F0}% {p.Command}");

await using var servers = new Servers();
var problems = await servers.CheckAsync(needRabbitMq: !options.SkipRabbitMq);
if (problems.Count > 0)
{
    foreach (var p in problems) Console.Error.WriteLine($"error: {p}");
    Console.Error.WriteLine("start the servers with scripts/services.sh start (Redis 127.0.0.1:6390, RabbitMQ 127.0.0.1:5673, management 15673), " +
                            "or point WAVEMESH_TEST_REDIS / WAVEMESH_TEST_RABBITMQ / WAVEMESH_TEST_RABBITMQ_MANAGEMENT at running servers");
    return 1;
}
var report = new BenchReport
{
    StartedAt = startedAt,
    Command = "dotnet run -c Release --project benchmarks/WaveMesh.TransportBench" + (args.Length > 0 ? " -- " + string.Join(' ', args) : ""),
    Options = options,
    Machine = new MachineFacts(Environment.ProcessorCount, Machine.CpuModel(), Machine.MemTotalBytes(), Machine.Runtime(), Machine.Gc(),
        await servers.RedisVersionAsync(), options.SkipRabbitMq ? "not used" : await servers.RabbitMqVersionAsync()),
    LoadAtStart = loadStart,
};

try
{
    // Artifacts first: before any host (and libtorch, which every stage worker loads) adds to this process's memory.
    if (!options.SkipArtifacts)
        report.Artifacts = await new ArtifactBench(servers, Path.Combine(scratch, "artifacts"), options.ArtifactMiB << 20, options.ArtifactRepetitions).RunAsync(withDapr: !options.SkipDapr);

    if (!options.SkipRabbitMq)
    {
        Log.Line("rabbitmq: starting the orchestrator and four workers");
        await using var mesh = new RabbitMqMesh(Path.Combine(scratch, "rabbitmq"), servers);
        await RunMeshAsync(mesh, options, report);
    }

    if (!options.SkipDapr)
    {
        Log.Line("dapr: starting the fake daprd, the orchestrator and four workers");
        await using var mesh = await DaprMesh.StartAsync(Path.Combine(scratch, "dapr"), TimeSpan.FromMilliseconds(options.DaprRetryMs));
        await RunMeshAsync(mesh, options, report);
    }
}
finally
{
    try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

report.LoadAtEnd = await Machine.SnapshotAsync(TimeSpan.FromSeconds(2));
report.Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1);
Log.Line($"load at end: {report.LoadAtEnd.LoadAverage}");
foreach (var p in report.LoadAtEnd.Busiest) Log.Line($"  busy: pid {p.Pid} {p.CpuPercent:F0}% {p.Command}");

Directory.CreateDirectory(outDir);
var md = Path.Combine(outDir, "transport.md");
var json = Path.Combine(outDir, "transport.json");
await File.WriteAllTextAsync(md, report.Markdown());
await File.WriteAllTextAsync(json, report.Json());
Console.WriteLine();
Console.WriteLine(report.Markdown());
Log.Line($"wrote {md} and {json} ({report.Seconds:F0} s)");
return 0;

static async Task RunMeshAsync(BenchMesh mesh, BenchOptions options, BenchReport report)
{
    report.Transports[mesh.Name] = mesh.Describe;
    await mesh.StartControlAsync();
    var slots = options.Slots.ToList();
    // The latency is measured on the first slot setting (jobs go one at a time, so slots do not matter to it).
    for (int s = 0; s < slots.Count; s++)
    {
        if (s > 0) await mesh.StopWorkersAsync();
        await mesh.StartWorkersAsync(slots[s]);
        Log.Line($"{mesh.Name}: workers up with {slots[s]} slot(s) each");
        if (s == 0)
        {
            var latency = await MessagingBench.LatencyAsync(mesh, options.Warmup, options.Jobs);
            report.Latency.Add(latency);
            Log.Line($"{mesh.Name}: publish -> job start p50 {latency.ToStart.P50:F2} ms, p90 {latency.ToStart.P90:F2}, p99 {latency.ToStart.P99:F2}, max {latency.ToStart.Max:F2}");
        }
        // With one slot per worker, every job that meets a busy worker waits for the fake daprd's redelivery (5 s, as in
        // dapr/resiliency.yaml): such a run takes close to a minute, so it gets fewer runs and no warm-up run.
        bool slow = slots[s] == 1 && mesh is DaprMesh && options.DaprRetryMs >= 1000;
        report.Pipelines.Add(await MessagingBench.PipelineAsync(mesh, warmupRuns: slow ? 0 : 1, slow ? options.SlowRuns : options.Runs));
    }
}
