using System.Net;
using System.Text;
using System.Text.Json;
using Dapr;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using WaveMesh.Contracts;
using WaveMesh.Control;
using WaveMesh.Distiller;
using WaveMesh.Evaluator;
using WaveMesh.Finetuner;
using WaveMesh.Messaging;
using WaveMesh.ScalerTrainer;
using WaveMesh.Services.Tests.Hosting;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>
/// What daprd relies on from each service: subscriptions on GET /dapr/subscribe, the app token on everything under
/// /dapr, and the Dapr API token on every call the service makes to its sidecar. No training.
/// </summary>
public sealed class Speaking_the_dapr_contract(ITestOutputHelper output) : IAsyncLifetime
{
    Mesh mesh = null!;
    readonly Dictionary<string, IServiceHost> byApp = [];

    public async Task InitializeAsync()
    {
        mesh = await Mesh.StartAsync();
        byApp["control"] = await mesh.StartControlAsync();
        byApp["distiller"] = await mesh.StartWorkerAsync<DistillerService>("distiller", "distiller-1");
        byApp["scaler-trainer"] = await mesh.StartWorkerAsync<ScalerTrainerService>("scaler-trainer", "scalers-1");
        byApp["finetuner"] = await mesh.StartWorkerAsync<FinetunerService>("finetuner", "finetuner-1");
        byApp["evaluator"] = await mesh.StartWorkerAsync<EvaluatorService>("evaluator", "evaluator-1");
    }

    public async Task DisposeAsync()
    {
        foreach (var line in mesh.Logs.Lines.Where(l => !l.Contains(" Information ")).TakeLast(40)) output.WriteLine(line);
        await mesh.DisposeAsync();
    }

    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    static HttpRequestMessage Request(HttpMethod method, IServiceHost host, string path, string? appToken, string? body = null)
    {
        var request = new HttpRequestMessage(method, new Uri(host.BaseAddress, path));
        if (appToken is not null) request.Headers.Add("dapr-api-token", appToken);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/cloudevents+json");
        return request;
    }

    public static TheoryData<string, string[]> ExpectedTopics() => new()
    {
        { "distiller", ["jobs.distill"] },
        { "scaler-trainer", ["jobs.scalers"] },
        { "finetuner", ["jobs.finetune"] },
        { "evaluator", ["jobs.evaluate"] },
        { "control", [.. MessageTypes.Events.Select(Topics.Of), .. MessageTypes.Jobs.Select(t => Topics.DeadLetter(Topics.Of(t)))] },
    };

    [Theory]
    [MemberData(nameof(ExpectedTopics))]
    public async Task Each_service_subscribes_to_its_topics_on_pubsub_with_a_dead_letter_topic(string appId, string[] topics)
    {
        using var response = await Http.SendAsync(Request(HttpMethod.Get, byApp[appId], "dapr/subscribe", Mesh.AppApiToken));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var subscriptions = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(topics.Order(), subscriptions.Select(s => s.GetProperty("topic").GetString()).Order());
        // Every topic has a dead-letter topic, except the dead-letter topics themselves (the control service watches them).
        Assert.All(subscriptions, s =>
        {
            var topic = s.GetProperty("topic").GetString()!;
            Assert.Equal("pubsub", s.GetProperty("pubsubName").GetString());
            if (topic.EndsWith(".dead")) Assert.False(s.TryGetProperty("deadLetterTopic", out var none) && none.ValueKind == JsonValueKind.String);
            else Assert.Equal($"{topic}.dead", s.GetProperty("deadLetterTopic").GetString());
        });
        if (appId == "control") Assert.Contains("teacher-changed", topics);
        // The sidecar read the same subscriptions when the replica was registered, and routes each topic to the app.
        var seen = mesh.Sidecar.Subscriptions.Where(x => x.AppId == appId).Select(x => x.Subscription).ToList();
        Assert.Equal(topics.Order(), seen.Select(s => s.Topic).Order());
        Assert.All(seen, s => Assert.Equal(s.Topic.EndsWith(".dead") ? null : $"{s.Topic}.dead", s.DeadLetterTopic));
        Assert.All(seen, s => Assert.Equal($"dapr/{s.Topic}", Assert.Single(s.Rules).Path.TrimStart('/')));
    }

    [Theory]
    [InlineData("control", "dapr/target-evaluated")]
    [InlineData("distiller", "dapr/jobs.distill")]
    [InlineData("scaler-trainer", "dapr/jobs.scalers")]
    [InlineData("finetuner", "dapr/jobs.finetune")]
    [InlineData("evaluator", "dapr/jobs.evaluate")]
    public async Task Sidecar_facing_endpoints_need_the_app_token(string appId, string deliveryRoute)
    {
        var host = byApp[appId];
        // Something that is no message at all: behind the token check it is dropped, not run.
        const string notAMessage = """{"specversion":"1.0","id":"x","source":"t","type":"t","datacontenttype":"application/json","data":[1,2,3]}""";

        using var noToken = await Http.SendAsync(Request(HttpMethod.Get, host, "dapr/subscribe", null));
        using var wrongToken = await Http.SendAsync(Request(HttpMethod.Get, host, "dapr/subscribe", "not-the-app-token"));
        using var deliveryWithout = await Http.SendAsync(Request(HttpMethod.Post, host, deliveryRoute, null, notAMessage));
        using var deliveryWrong = await Http.SendAsync(Request(HttpMethod.Post, host, deliveryRoute, "not-the-app-token", notAMessage));
        using var subscribe = await Http.SendAsync(Request(HttpMethod.Get, host, "dapr/subscribe", Mesh.AppApiToken));
        using var delivery = await Http.SendAsync(Request(HttpMethod.Post, host, deliveryRoute, Mesh.AppApiToken, notAMessage));
        using var health = await Http.SendAsync(Request(HttpMethod.Get, host, "alive", null));

        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, deliveryWithout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, deliveryWrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, subscribe.StatusCode);
        Assert.Equal(HttpStatusCode.OK, delivery.StatusCode);
        var status = JsonDocument.Parse(await delivery.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString();
        // A worker drops what is not a readable job; the control service drops what is not a readable event.
        Assert.Equal("DROP", status);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode); // the probes are not sidecar-facing
    }

    /// <summary>Bodies a sidecar could hand over that are no message of the route's type.</summary>
    static readonly string[] Malformed =
    [
        "this is not JSON",
        """{"specversion":"1.0","id":"x","data":""",
        "",
        "[]",
        """{"specversion":"1.0","id":"x","source":"t","type":"t","datacontenttype":"application/json"}""",
        """{"specversion":"1.0","id":"x","source":"t","type":"t","datacontenttype":"application/json","data":"not a job"}""",
        """{"specversion":"1.0","id":"x","source":"t","type":"t","data_base64":"%%%"}""",
    ];

    public static TheoryData<string, string> DeliveryRoutes() => new()
    {
        { "control", "dapr/target-evaluated" },
        { "control", "dapr/stage-progress" },
        { "control", "dapr/jobs.evaluate.dead" },
        { "distiller", "dapr/jobs.distill" },
        { "scaler-trainer", "dapr/jobs.scalers" },
        { "finetuner", "dapr/jobs.finetune" },
        { "evaluator", "dapr/jobs.evaluate" },
    };

    // daprd retries every 5xx answer (pkg/runtime/subscription/postman/http/http.go 150-157) and acks DROP (after
    // dead-lettering it) and 404 (140-148): a poison message answered with a 5xx would come back 7 times, forever
    // with requeueing, and a stack trace every time.
    static async Task AssertDroppedAsync(HttpResponseMessage response, string what)
    {
        Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"{what}: answered {(int)response.StatusCode}");
        if (response.StatusCode == HttpStatusCode.OK)
            Assert.Equal("DROP", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [MemberData(nameof(DeliveryRoutes))]
    public async Task A_malformed_delivery_is_dropped_with_one_log_line_never_answered_with_a_server_error(string appId, string route)
    {
        int before = mesh.Logs.Lines.Count;
        foreach (var body in Malformed)
        {
            using var response = await Http.SendAsync(Request(HttpMethod.Post, byApp[appId], route, Mesh.AppApiToken, body));
            await AssertDroppedAsync(response, $"{appId} {route} '{body}'");
        }
        var lines = mesh.Logs.Lines.Skip(before).Where(l => l.Contains($"[{byApp[appId].Name}]")).ToList();
        Assert.Equal(Malformed.Length, lines.Count(l => l.Contains("dropped a delivery")));
        Assert.DoesNotContain(lines, l => l.Contains(" Error ") || l.Contains(" at WaveMesh"));
    }

    [Fact]
    public async Task Without_an_app_token_a_malformed_delivery_is_dropped_too()
    {
        IReadOnlyDictionary<string, string?> NoToken(Dictionary<string, string?> settings)
        {
            settings.Remove("APP_API_TOKEN");
            return settings;
        }
        var evaluator = await mesh.StartAsync<EvaluatorService>("evaluator", "evaluator-open", NoToken(mesh.WorkerSettings("evaluator-open")), register: false);
        var control = await mesh.StartAsync<ControlServiceHost>("control", "control-open", NoToken(mesh.ControlSettings("control-open")), register: false);

        foreach (var (host, route) in new[] { ((IServiceHost)evaluator, "dapr/jobs.evaluate"), (control, "dapr/target-evaluated") })
        foreach (var body in Malformed)
        {
            using var response = await Http.SendAsync(Request(HttpMethod.Post, host, route, null, body));
            await AssertDroppedAsync(response, $"{host.Name} {route} '{body}'");
        }
    }

    [Fact]
    public async Task A_job_message_missing_its_fields_is_dropped_not_run()
    {
        // A CloudEvent whose data is an object, but not an EvaluateModel: no model digest, no data set, no subject.
        const string emptyJob = """{"specversion":"1.0","id":"x","source":"t","type":"t","datacontenttype":"application/json","data":{}}""";

        using var delivery = await Http.SendAsync(Request(HttpMethod.Post, byApp["evaluator"], "dapr/jobs.evaluate", Mesh.AppApiToken, emptyJob));

        Assert.Equal(HttpStatusCode.OK, delivery.StatusCode);
        Assert.Equal("DROP", JsonDocument.Parse(await delivery.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_sidecar_holding_another_app_token_cannot_even_read_the_subscriptions()
    {
        var host = await mesh.StartAsync<EvaluatorService>("evaluator", "evaluator-x", mesh.WorkerSettings("evaluator-x"), register: false);

        // daprd logs a refused GET /dapr/subscribe and runs on without subscriptions (pkg/runtime/pubsub/subscriptions.go).
        await mesh.Sidecar.AddAppAsync("evaluator", host.BaseAddress, "wrong-app-token");

        Assert.Contains(mesh.Sidecar.Warnings, w => w.Contains("401"));
        Assert.DoesNotContain(mesh.Sidecar.Subscriptions, s => s.Replica.AbsoluteUri.TrimEnd('/') == host.BaseAddress.AbsoluteUri.TrimEnd('/'));
    }

    [Fact]
    public async Task Services_send_the_dapr_api_token_and_one_with_a_wrong_token_cannot_publish()
    {
        var good = byApp["evaluator"].Services.GetRequiredService<IEventBus>();
        var wrongSettings = mesh.WorkerSettings("evaluator-wrong-token");
        wrongSettings["DAPR_API_TOKEN"] = "not-the-dapr-token";
        var wrongHost = await mesh.StartAsync<EvaluatorService>("evaluator", "evaluator-wrong-token", wrongSettings, register: false);
        var bad = wrongHost.Services.GetRequiredService<IEventBus>();
        var failedBefore = mesh.Sidecar.Counters.Failed;
        var refused = new RunCompleted("succeeded", 1, 0) { RunId = Guid.NewGuid() };
        var accepted = new RunCompleted("succeeded", 1, 0) { RunId = Guid.NewGuid() };

        var error = await Assert.ThrowsAsync<DaprException>(() => bad.PublishAsync(refused));
        await good.PublishAsync(accepted);

        Assert.Equal(StatusCode.Unauthenticated, Assert.IsType<RpcException>(error.InnerException).StatusCode);
        Assert.True(mesh.Sidecar.Counters.Failed > failedBefore);
        var published = mesh.Published<RunCompleted>("run-completed");
        Assert.Contains(published, e => e.RunId == accepted.RunId);
        Assert.DoesNotContain(published, e => e.RunId == refused.RunId);
    }

    [Fact]
    public async Task A_control_service_with_a_wrong_dapr_token_stores_nothing()
    {
        var settings = mesh.ControlSettings("control-wrong-token");
        settings["DAPR_API_TOKEN"] = "not-the-dapr-token";
        var host = await mesh.StartAsync<ControlServiceHost>("control", "control-wrong-token", settings, register: false);
        using var api = new HttpClient { BaseAddress = host.BaseAddress };
        api.DefaultRequestHeaders.Authorization = new("Bearer", Mesh.ControlApiToken);
        var before = mesh.Sidecar.Snapshot(Mesh.Store).Count;
        await mesh.WaitUntilAsync(() => mesh.Logs.Lines.Any(l => l.Contains("[control-wrong-token]") && l.Contains("loading the run ledger failed")),
            TimeSpan.FromSeconds(30), "the control service to try loading its ledger");

        using var response = await api.PutAsync("/api/pipelines/refused",
            new StringContent("""{"teacher":"t","config":"templates: { size: 16 }\ntargets: [1x16x1]"}""", Encoding.UTF8, "application/json"));

        // It cannot even load its ledger: it keeps saying so instead of answering anything from an empty one.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("Unauthenticated", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, mesh.Sidecar.Snapshot(Mesh.Store).Count);
        Assert.DoesNotContain(mesh.Sidecar.Snapshot(Mesh.Store).Keys, k => k.Contains("refused"));
    }
}
