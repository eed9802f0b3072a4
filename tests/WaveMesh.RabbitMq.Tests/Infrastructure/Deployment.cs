using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using StackExchange.Redis;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Control;
using WaveMesh.ControlPlane;
using WaveMesh.Testing;
using WaveMesh.Transport.MassTransit;
using WaveMesh.Transport.Redis;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>A run as GET /api/runs/{id} shows it: its status and the whole answer.</summary>
public sealed record RunView(string Status, System.Text.Json.JsonElement Json)
{
    public override string ToString() => Json.ToString();
}

/// <summary>
/// One test's private WaveMesh deployment on the shared servers: a unique RabbitMQ prefix (queues and exchanges) and
/// Redis key prefix, the services it starts, a bus observing its events and a temporary folder. Disposing it stops the
/// services, deletes its queues, exchanges and keys, and writes the services' logs to the test output.
/// </summary>
public sealed class Deployment : IAsyncDisposable
{
    public const string ApiToken = "rabbitmq-tests-token";
    public const string TeacherName = "tiny";

    readonly ITestOutputHelper output;
    readonly List<IServiceHost> hosts = [];
    readonly DateTime started = DateTime.UtcNow;
    HttpClient? api;

    Deployment(ITestOutputHelper output, string prefix, IConnectionMultiplexer redis, EventObserver events)
    {
        this.output = output;
        Prefix = prefix;
        Redis = redis;
        Events = events;
        Folder = Path.Combine(Path.GetTempPath(), "wavemesh-rabbitmq-tests", prefix);
        Directory.CreateDirectory(Folder);
    }

    /// <summary>Queue prefix of this deployment (its exchanges start with it too).</summary>
    public string Prefix { get; }
    /// <summary>Prefix of every Redis key of this deployment.</summary>
    public string KeyPrefix => Prefix + ":";
    public string Folder { get; }
    public IConnectionMultiplexer Redis { get; }
    public EventObserver Events { get; }
    public LogSink Logs { get; } = new();
    /// <summary>
    /// Longer than any test: a job waiting in its queue behind busy workers is not published again (which would add
    /// cached duplicates), and a lost message is not papered over. Jobs of killed workers are re-offered regardless,
    /// once their lease expires.
    /// </summary>
    public TimeSpan UnclaimedAfter { get; init; } = TimeSpan.FromMinutes(5);

    public static RabbitMqOptions RabbitOptions(string prefix) => new()
    {
        Host = Servers.RabbitMqHost, Port = Servers.RabbitMqPort, Username = Servers.RabbitMqUser, Password = Servers.RabbitMqPassword,
        QueuePrefix = prefix, PublishRetryFor = TimeSpan.FromMinutes(1),
    };

    public static async Task<Deployment> StartAsync(ITestOutputHelper output)
    {
        await Servers.RequireAsync();
        var prefix = "wmt-" + Guid.NewGuid().ToString("N")[..10];
        var redis = await ConnectionMultiplexer.ConnectAsync(Servers.Redis);
        var events = await EventObserver.StartAsync(RabbitOptions(prefix));
        return new Deployment(output, prefix, redis, events);
    }

    Dictionary<string, string?> Common(string name) => new()
    {
        ["WaveMesh:Transport"] = "rabbitmq",
        ["WaveMesh:RabbitMq:Host"] = Servers.RabbitMqHost,
        ["WaveMesh:RabbitMq:Port"] = Servers.RabbitMqPort.ToString(),
        ["WaveMesh:RabbitMq:Username"] = Servers.RabbitMqUser,
        ["WaveMesh:RabbitMq:Password"] = Servers.RabbitMqPassword,
        ["WaveMesh:RabbitMq:QueuePrefix"] = Prefix,
        ["WaveMesh:Worker:SlotWait"] = "00:00:30",
        ["WaveMesh:RabbitMq:PublishRetryFor"] = "00:01:00",
        ["WaveMesh:Redis:Configuration"] = Servers.Redis,
        ["WaveMesh:Redis:KeyPrefix"] = KeyPrefix,
        ["WaveMesh:Dapr:CacheDirectory"] = Path.Combine(Folder, name, "cache"),
        // No sidecar: with the rabbitmq transport, artifacts then go straight to Redis.
        ["DAPR_GRPC_ENDPOINT"] = "",
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "",
    };

    /// <summary>The control service, once its run ledger is loaded; its API is <see cref="Api"/>.</summary>
    public async Task<ServiceHost<ControlServiceHost>> StartControlAsync()
    {
        var settings = Common("control");
        settings["WaveMesh:Control:ApiToken"] = ApiToken;
        settings["WaveMesh:Control:UploadDirectory"] = Path.Combine(Folder, "control", "uploads");
        settings["WaveMesh:Control:WatchdogInterval"] = "00:00:01";
        settings["WaveMesh:Control:UnclaimedAfter"] = UnclaimedAfter.ToString("c");
        var host = Add(new ServiceHost<ControlServiceHost>("control", settings, Logs)).Start();
        api = host.CreateClient();
        api.Timeout = TimeSpan.FromMinutes(2);
        await Readiness.WaitUntilHealthyAsync(api);
        return host;
    }

    /// <summary>A stage service (marker type of its assembly) as a worker named <paramref name="name"/>.</summary>
    public ServiceHost<TMarker> StartWorker<TMarker>(string name, int maxAttempts = 3) where TMarker : class
    {
        var settings = Common(name);
        settings["WaveMesh:Worker:Slots"] = "1";
        settings["WaveMesh:Worker:Threads"] = "1";
        settings["WaveMesh:Worker:Device"] = "cpu";
        settings["WaveMesh:Worker:Name"] = name;
        settings["WaveMesh:Worker:WorkDirectory"] = Path.Combine(Folder, name, "work");
        settings["WaveMesh:Worker:LeaseTtl"] = "00:00:04";
        settings["WaveMesh:Worker:HeartbeatInterval"] = "00:00:01";
        settings["WaveMesh:Worker:RetryDelay"] = "00:00:00.2";
        settings["WaveMesh:Worker:MaxAttempts"] = maxAttempts.ToString();
        return Add(new ServiceHost<TMarker>(name, settings, Logs)).Start();
    }

    /// <summary>Control and one worker of each stage.</summary>
    public async Task StartAllAsync()
    {
        await StartControlAsync();
        StartWorker<Distiller.DistillerService>("distiller");
        StartWorker<ScalerTrainer.ScalerTrainerService>("scaler-trainer");
        StartWorker<Finetuner.FinetunerService>("finetuner");
        StartWorker<Evaluator.EvaluatorService>("evaluator");
    }

    T Add<T>(T host) where T : IServiceHost
    {
        lock (hosts) hosts.Add(host);
        return host;
    }

    /// <summary>The control API, with the bearer token.</summary>
    public HttpClient Api => api ?? throw new InvalidOperationException("the control service is not started");

    HttpRequestMessage Authorized(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiToken);
        return request;
    }

    /// <summary>Uploads the tiny teacher through the API (POST /api/teachers/{name}, raw safetensors).</summary>
    public async Task<RegisterResult> UploadTeacherAsync(string name = TeacherName)
    {
        var content = new ByteArrayContent(TinyTeacher.Bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var answer = await Api.SendAsync(Authorized(HttpMethod.Post, $"/api/teachers/{name}", content));
        Assert.True(answer.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, $"teacher upload: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
        return (await answer.Content.ReadFromJsonAsync<RegisterResult>())!;
    }

    /// <summary>Creates the pipeline (PUT /api/pipelines/{name}); with the teacher uploaded, that starts a run, whose id is returned.</summary>
    public async Task<Guid> PutPipelineAsync(string name, string yaml, string teacher = TeacherName)
    {
        var answer = await Api.SendAsync(Authorized(HttpMethod.Put, $"/api/pipelines/{name}", JsonContent.Create(new { teacher, config = yaml })));
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.IsSuccessStatusCode, $"PUT pipeline: {(int)answer.StatusCode} {text}");
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        Assert.True(doc.RootElement.TryGetProperty("run", out var run) && run.ValueKind == System.Text.Json.JsonValueKind.String, $"no run started: {text}");
        return run.GetGuid();
    }

    /// <summary>Uploads the teacher and puts the pipeline: a run starts.</summary>
    public async Task<Guid> StartRunAsync(string yaml, string pipeline = "tiny")
    {
        await UploadTeacherAsync();
        return await PutPipelineAsync(pipeline, yaml);
    }

    /// <summary>GET /api/runs/{id}: the run's status and the whole JSON the control API answers.</summary>
    public async Task<RunView?> RunAsync(Guid run)
    {
        var answer = await Api.GetAsync($"/api/runs/{run}");
        if (answer.StatusCode == HttpStatusCode.NotFound) return null;
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.IsSuccessStatusCode, $"GET /api/runs/{run}: {(int)answer.StatusCode} {text}");
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        var root = doc.RootElement.Clone();
        var status = root.EnumerateObject().FirstOrDefault(p => p.Name.Equals("status", StringComparison.OrdinalIgnoreCase)).Value;
        Assert.True(status.ValueKind == System.Text.Json.JsonValueKind.String, $"GET /api/runs/{run} has no status: {text}");
        return new RunView(status.GetString()!, root);
    }

    /// <summary>
    /// Polls GET /api/runs/{id} until the run has ended (succeeded or failed), then waits until the test's observer has
    /// the run's <see cref="RunCompleted"/> too: it consumes on its own connection (after a broker restart it may
    /// reconnect later than the services), so until then the events it shows can be incomplete.
    /// </summary>
    public async Task<RunView> WaitForRunAsync(Guid run, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            RunView? view = null;
            try { view = await RunAsync(run); }
            catch (HttpRequestException) { }
            if (view?.Status is RunOutcome.Succeeded or RunOutcome.Failed)
            {
                await Events.WaitForAsync<RunCompleted>(c => c.RunId == run, TimeSpan.FromMinutes(1), "the run's completion at the test's observer");
                return view;
            }
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"run {run} still {view?.Status ?? "unknown"} after {timeout.TotalSeconds:F0} s; events seen: {Events.Describe()}");
            await Task.Delay(250);
        }
    }

    /// <summary>A store on this deployment's keys with an empty local cache of its own, so every read comes from Redis and is verified.</summary>
    public ChunkedArtifactStore FreshStore()
    {
        var options = new RedisOptions { Configuration = Servers.Redis, KeyPrefix = KeyPrefix };
        return new ChunkedArtifactStore(new RedisKeyValueStore(Redis, options), options.ChunkBytes,
            Path.Combine(Folder, "verify-" + Guid.NewGuid().ToString("N")[..8]));
    }

    /// <summary>The job leases the workers share (every claim of a job counts one attempt).</summary>
    public KeyValueJobLeases Leases() =>
        new(new RedisKeyValueStore(Redis, new RedisOptions { Configuration = Servers.Redis, KeyPrefix = KeyPrefix }));

    /// <summary>Stops one service abruptly for the rest of the deployment (as far as an in-process host can be): its bus and its jobs stop.</summary>
    public static async Task KillAsync(IServiceHost host) => await host.DisposeAsync();

    static string Describe(IntegrationEvent e) => e switch
    {
        ScalersTrained t => t.Target.Slug,
        TargetFinetuned f => $"{f.Target.Slug}/{f.Method}",
        TargetEvaluated v => $"{v.Subject} accuracy {v.Accuracy:P1}",
        _ => "",
    };

    public void Log(string line) => Logs.Add($"{DateTime.UtcNow:HH:mm:ss.fff} [test] {line}");

    public async ValueTask DisposeAsync()
    {
        IServiceHost[] all;
        lock (hosts) all = [.. hosts];
        api?.Dispose();
        // Workers first (their jobs are cancelled), control last.
        foreach (var host in all.Reverse())
        {
            try { await host.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)); }
            catch (Exception e) { output.WriteLine($"stopping {host.Name}: {e.GetType().Name}: {e.Message}"); }
        }
        await Events.DisposeAsync();
        int entities = -1;
        long keys = -1;
        try { entities = await Servers.DeleteBrokerEntitiesAsync(Prefix); }
        catch (Exception e) { output.WriteLine($"deleting the queues and exchanges of {Prefix}: {e.Message}"); }
        try { keys = await Servers.DeleteRedisKeysAsync(Redis, KeyPrefix); }
        catch (Exception e) { output.WriteLine($"deleting the Redis keys of {KeyPrefix}: {e.Message}"); }
        await Redis.DisposeAsync();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        output.WriteLine($"deployment {Prefix}: {(DateTime.UtcNow - started).TotalSeconds:F1} s; removed {entities} queues/exchanges and {keys} Redis keys");
        foreach (var e in Results.Of(Events.Events))
        {
            var stats = Results.Stats(e);
            output.WriteLine($"result {e.GetType().Name} {Describe(e)}: {stats.Steps} steps, {stats.Seconds:F1} s, by {stats.Worker}{(stats.Cached ? ", cached" : "")}");
        }
        foreach (var line in Logs.Lines) output.WriteLine(line);
    }
}
