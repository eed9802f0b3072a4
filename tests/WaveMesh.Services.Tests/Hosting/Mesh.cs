using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using WaveMesh.Contracts;
using WaveMesh.Control;
using WaveMesh.Dapr.Sidecar;
using WaveMesh.Stages;

using WaveMesh.Testing;

namespace WaveMesh.Services.Tests.Hosting;

/// <summary>
/// A deployment in one process: the fake daprd and any number of service replicas (each its own WebApplicationFactory
/// on Kestrel, registered with the sidecar under its app-id), a client of the control API, and readers of what went
/// over the pub/sub.
/// </summary>
public sealed class Mesh : IAsyncDisposable
{
    public const string DaprApiToken = "dapr-token-for-tests";
    public const string AppApiToken = "app-token-for-tests";
    public const string ControlApiToken = "control-token-for-tests";
    public const string Store = "statestore";
    public const string PubSub = "pubsub";

    readonly List<IServiceHost> hosts = [];

    /// <summary>
    /// What stopped services leave behind that holds native tensors (their stage context and its loaded data sets):
    /// kept alive for the test process, because the finalizer thread freeing them while other services train crashes libtorch.
    /// </summary>
    static readonly List<object> KeepAlive = [];

    Mesh(TestSidecar sidecar, string root, int chunkBytes)
    {
        Sidecar = sidecar;
        Root = root;
        ChunkBytes = chunkBytes;
    }

    public TestSidecar Sidecar { get; }
    public string Root { get; }
    public int ChunkBytes { get; }
    public LogSink Logs { get; } = new();
    public HttpClient? Api { get; private set; }
    public IReadOnlyList<IServiceHost> Hosts { get { lock (hosts) return [.. hosts]; } }

    /// <summary>
    /// A sidecar with daprd's semantics under our dapr/resiliency.yaml (7 deliveries to the same replica, then the
    /// dead-letter topic; a circuit breaker after 5 failures in a row), with shorter pauses so tests stay fast.
    /// </summary>
    public static async Task<Mesh> StartAsync(int chunkBytes = 262_144, Action<TestSidecarOptions>? configure = null)
    {
        var options = new TestSidecarOptions
        {
            DaprApiToken = DaprApiToken,
            AppId = "wavemesh-tests",
            InboundRetryInterval = TimeSpan.FromMilliseconds(200),
            CircuitBreakerTimeout = TimeSpan.FromSeconds(3),
            MaxBodySizeBytes = 16 * 1024 * 1024,
        };
        configure?.Invoke(options);
        var root = Path.Combine(Path.GetTempPath(), "wavemesh-services-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        return new Mesh(await TestSidecar.StartAsync(options), root, chunkBytes);
    }

    // ---------------------------------------------------------------- hosts

    /// <summary>What every service gets: the sidecar's endpoints and tokens, the Dapr transport and its artifact settings.</summary>
    public Dictionary<string, string?> Settings(string name, string? daprApiToken = null)
    {
        var s = new Dictionary<string, string?>(Sidecar.ClientConfiguration(AppApiToken))
        {
            ["WaveMesh:Transport"] = "dapr",
            ["WaveMesh:Dapr:PubSub"] = PubSub,
            ["WaveMesh:Dapr:StateStore"] = Store,
            ["WaveMesh:Dapr:CacheDirectory"] = Path.Combine(Root, name, "cache"),
            ["WaveMesh:Dapr:ChunkBytes"] = ChunkBytes.ToString(CultureInfo.InvariantCulture),
        };
        if (daprApiToken is not null) s["DAPR_API_TOKEN"] = daprApiToken;
        return s;
    }

    public Dictionary<string, string?> WorkerSettings(string name, int maxAttempts = 2, TimeSpan? leaseTtl = null)
    {
        var s = Settings(name);
        s["WaveMesh:Worker:Slots"] = "1";
        s["WaveMesh:Worker:Threads"] = "1";
        s["WaveMesh:Worker:Device"] = "cpu";
        s["WaveMesh:Worker:Name"] = name;
        s["WaveMesh:Worker:WorkDirectory"] = Path.Combine(Root, name, "work");
        s["WaveMesh:Worker:LeaseTtl"] = (leaseTtl ?? TimeSpan.FromSeconds(4)).ToString("c");
        s["WaveMesh:Worker:HeartbeatInterval"] = "00:00:01";
        s["WaveMesh:Worker:RetryDelay"] = "00:00:00.2";
        s["WaveMesh:Worker:MaxAttempts"] = maxAttempts.ToString(CultureInfo.InvariantCulture);
        s["WaveMesh:Worker:SlotWait"] = "00:01:00";
        return s;
    }

    public Dictionary<string, string?> ControlSettings(string name = "control", long maxUploadBytes = 64L << 20, TimeSpan? unclaimedAfter = null)
    {
        var s = Settings(name);
        s["WaveMesh:Control:ApiToken"] = ControlApiToken;
        s["WaveMesh:Control:UploadDirectory"] = Path.Combine(Root, name, "uploads");
        s["WaveMesh:Control:WatchdogInterval"] = "00:00:01";
        s["WaveMesh:Control:UnclaimedAfter"] = (unclaimedAfter ?? TimeSpan.FromSeconds(20)).ToString("c");
        s["WaveMesh:Control:MaxUploadBytes"] = maxUploadBytes.ToString(CultureInfo.InvariantCulture);
        s["WaveMesh:Control:DeadLetterDelay"] = "00:00:01";
        return s;
    }

    /// <summary>Starts a replica and, when <paramref name="register"/>, tells the sidecar about it (it reads /dapr/subscribe).</summary>
    public async Task<ServiceHost<T>> StartAsync<T>(string appId, string name, IReadOnlyDictionary<string, string?> settings, bool register = true)
        where T : class
    {
        var host = new ServiceHost<T>(appId, name, settings, Logs);
        try
        {
            host.Start();
            if (register) await Sidecar.AddAppAsync(appId, host.BaseAddress, AppApiToken);
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        lock (hosts) hosts.Add(host);
        return host;
    }

    public async Task<ServiceHost<ControlServiceHost>> StartControlAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var host = await StartAsync<ControlServiceHost>("control", "control", settings ?? ControlSettings());
        UseControl(host);
        await Readiness.WaitUntilHealthyAsync(ControlApi);   // the ledger is loaded: the API answers from it
        return host;
    }

    /// <summary>Points the control API client at <paramref name="host"/> (a control service restarted by the test).</summary>
    public void UseControl(IServiceHost host)
    {
        Api?.Dispose();
        Api = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ControlApiToken);
    }

    public Task<ServiceHost<T>> StartWorkerAsync<T>(string appId, string name, int maxAttempts = 2) where T : class =>
        StartAsync<T>(appId, name, WorkerSettings(name, maxAttempts));

    /// <summary>
    /// Ends a replica as a crash would look from outside: its sidecar stops delivering to it and the process goes away
    /// (the host is disposed at once, which cancels its running jobs without releasing their leases).
    /// </summary>
    public async Task KillAsync(IServiceHost host)
    {
        Sidecar.RemoveApp(host.AppId, host.BaseAddress);
        lock (hosts) hosts.Remove(host);
        await StopAsync(host);
    }

    static async Task StopAsync(IServiceHost host)
    {
        try
        {
            if (host.Services.GetService(typeof(StageContext)) is { } context) lock (KeepAlive) KeepAlive.Add(context);
        }
        catch (ObjectDisposedException) { }
        await host.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        // Replicas first (they stop taking deliveries), then the sidecar.
        foreach (var host in Hosts.Reverse())
        {
            try { await StopAsync(host); }
            catch (Exception) { /* a host that failed to start or stop must not hide the test's result */ }
        }
        await Sidecar.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    // ---------------------------------------------------------------- what went over the pub/sub

    /// <summary>A published message as the contract type its topic carries (dead-letter topics carry their job's type), or null.</summary>
    public static object? Decode(PublishedMessage message)
    {
        var topic = message.Topic.EndsWith(".dead", StringComparison.Ordinal) ? message.Topic[..^".dead".Length] : message.Topic;
        return Topics.TypeOf(topic) is { } type ? ContractJson.Deserialize(Encoding.UTF8.GetString(message.Data), type) : null;
    }

    public IReadOnlyList<T> Published<T>(string? topic = null) =>
        Sidecar.Published.Where(m => topic is null || m.Topic == topic).Select(Decode).OfType<T>().ToList();

    /// <summary>Result events of stages (not progress, teacher announcements, failures or a run's end).</summary>
    public IReadOnlyList<IntegrationEvent> Results(Guid? runId = null) =>
        Published<IntegrationEvent>().Where(e => IsResult(e) && (runId is null || e.RunId == runId)).ToList();

    public static bool IsResult(IntegrationEvent e) => MessageTypes.IsResult(e);

    public static StageStats Stats(IntegrationEvent e) => MessageTypes.Stats(e) ?? throw new ArgumentException(e.GetType().Name);

    public static string JobKeyOf(IntegrationEvent e) => MessageTypes.JobKey(e) ?? throw new ArgumentException(e.GetType().Name);

    /// <summary>Publishes a job the way a service does (contract JSON on its topic), without going through a client.</summary>
    public void Publish(StageJob job) =>
        Sidecar.Publish(PubSub, Topics.Of(job.GetType()), Encoding.UTF8.GetBytes(ContractJson.Serialize(job)));

    /// <summary>Polls <paramref name="find"/> until it returns something; never sleeps blindly past the deadline.</summary>
    public async Task<T> WaitForAsync<T>(Func<T?> find, TimeSpan timeout, string what) where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (find() is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {timeout.TotalSeconds:F0} s for {what}\n{Tail()}");
            await Task.Delay(50);
        }
    }

    public Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        WaitForAsync(() => condition() ? "" : null, timeout, what);

    /// <summary>The last log lines of every host and the sidecar's warnings (for failure messages).</summary>
    public string Tail(int lines = 60) =>
        string.Join('\n', Logs.Lines.TakeLast(lines)) + "\nsidecar warnings: " + string.Join(" | ", Sidecar.Warnings.TakeLast(10));

    // ---------------------------------------------------------------- the control API

    static readonly JsonSerializerOptions Web = JsonSerializerOptions.Web;

    public HttpClient ControlApi => Api ?? throw new InvalidOperationException("no control service started");

    /// <summary>What the API answered to a teacher upload.</summary>
    public sealed record Registered(string Teacher, int Version, string Digest, bool Changed, List<Guid> StartedRuns);

    public async Task<Registered> UploadTeacherAsync(string name, byte[] safetensors)
    {
        using var content = new ByteArrayContent(safetensors);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await ControlApi.PostAsync($"/api/teachers/{name}", content);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"upload of teacher {name}: {(int)response.StatusCode} {body}");
        return JsonSerializer.Deserialize<Registered>(body, Web)!;
    }

    /// <summary>Creates or changes a pipeline; returns the run it started (null when its teacher has no version yet).</summary>
    public async Task<Guid?> PutPipelineAsync(string name, string teacher, string config)
    {
        using var response = await ControlApi.PutAsJsonAsync($"/api/pipelines/{name}", new { teacher, config });
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"PUT pipeline {name}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("run").ValueKind == JsonValueKind.Null ? null : doc.RootElement.GetProperty("run").GetGuid();
    }

    public async Task<RunView> RunAsync(Guid id) => new(JsonDocument.Parse(await ControlApi.GetStringAsync($"/api/runs/{id}")).RootElement.Clone());

    public async Task<IReadOnlyList<RunView>> RunsAsync() =>
        JsonDocument.Parse(await ControlApi.GetStringAsync("/api/runs")).RootElement.Clone().EnumerateArray().Select(r => new RunView(r)).ToList();

    /// <summary>Polls the run until its status is no longer "running".</summary>
    public async Task<RunView> WaitForRunAsync(Guid id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            RunView run;
            try
            {
                run = await RunAsync(id);
            }
            catch (HttpRequestException e) when (e.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);   // a control service that is still loading its ledger
                continue;
            }
            if (run.Status != "running") return run;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"run {id} still running after {timeout.TotalSeconds:F0} s; outstanding: " +
                    $"{string.Join(", ", run.Outstanding)}\n{Tail()}");
            await Task.Delay(250);
        }
    }
}
