using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using WaveMesh.Safetensors;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Cli.Tests;

/// <summary>
/// <c>wavemesh serve</c> as a user runs it: a separate process, driven over HTTP only. Upload a teacher, register a
/// pipeline, wait for it, list and download the promoted models, ask for a size nobody planned, upload the same teacher
/// again and a new version, refuse bad requests, and stop and start again on the same store.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class Serving_the_mesh_in_one_process(ITestOutputHelper output) : IDisposable
{
    const string Token = "serve-test-token";
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(6);

    readonly TempFolder folder = new();
    ServeProcess? server;
    HttpClient? http;

    public void Dispose()
    {
        if (server is not null) output.WriteLine(server.Log);
        server?.Dispose();
        folder.Dispose();
    }

    async Task StartAsync(int port)
    {
        server?.Dispose();
        server = await ServeProcess.StartAsync(folder.PathOf("store"), port, Token);
        http = server.Http;
    }

    void Stop() => server!.Stop();

    HttpRequestMessage Authorized(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return request;
    }

    async Task<HttpResponseMessage> UploadAsync(string name, byte[] teacher)
    {
        var content = new ByteArrayContent(teacher);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return await http!.SendAsync(Authorized(HttpMethod.Post, $"/api/teachers/{name}", content));
    }

    async Task<JsonElement> JsonAsync(string path) => JsonDocument.Parse(await http!.GetStringAsync(path)).RootElement.Clone();

    async Task<JsonElement> WaitForRunAsync(Guid id)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var run = await JsonAsync($"/api/runs/{id}");
            if (run.GetProperty("status").GetString() != "running") return run;
            Assert.True(DateTime.UtcNow < deadline, $"run {id} still running after {Patience}");
            await Task.Delay(500);
        }
    }

    async Task<List<JsonElement>> ModelsAsync() => [.. (await JsonAsync("/api/models")).EnumerateArray()];

    /// <summary>The promoted model of a size as downloaded: a safetensors file whose bytes hash to the digest the registry lists.</summary>
    async Task<byte[]> DownloadAsync(string size, string expectedDigest)
    {
        using var response = await http!.GetAsync($"/api/models/fmnist/{size}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(expectedDigest, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var path = folder.PathOf($"{size}.safetensors");
        await File.WriteAllBytesAsync(path, bytes);
        using (var file = SafetensorsFile.Open(path)) Assert.Contains(file.Tensors, t => t.Name == "head.weight");
        var inspect = await Cli.RunAsync(folder.Path, "inspect", path);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        return bytes;
    }

    static void AssertProblem(HttpResponseMessage response, HttpStatusCode status, string detail, string body)
    {
        Assert.Equal(status, response.StatusCode);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        var text = problem.GetProperty("detail").GetString()!;
        Assert.Contains(detail, text);
        Assert.DoesNotContain('\n', text);
    }

    [Fact]
    public async Task Uploads_runs_promotes_serves_models_makes_sizes_on_demand_and_resumes_after_a_restart()
    {
        int port = ServeProcess.FreePort();
        await StartAsync(port);

        // A teacher and a pipeline (WAVE against scratch): one run, each size's best model promoted.
        using (var created = await UploadAsync("fmnist", Checkpoints.TrainedTeacher))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = JsonContent.Create(new { teacher = "fmnist", config = TinyPipeline.Pipeline(methods: ["wave", "scratch"], curvePoints: 0) });
        using var put = await http!.SendAsync(Authorized(HttpMethod.Put, "/api/pipelines/tiny", body));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var runId = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement.GetProperty("run").GetGuid();
        Assert.Equal("succeeded", (await WaitForRunAsync(runId)).GetProperty("status").GetString());

        var models = await ModelsAsync();
        Assert.Equal(TinyPipeline.Targets, models.Select(m => m.GetProperty("size").GetString()).Order());
        var teacherDigest = Convert.ToHexStringLower(SHA256.HashData(Checkpoints.TrainedTeacher));
        foreach (var m in models)
        {
            Assert.Equal("fmnist", m.GetProperty("teacher").GetString());
            Assert.Equal(teacherDigest, m.GetProperty("teacher_digest").GetString());
            Assert.Contains(m.GetProperty("method").GetString(), new[] { "wave", "scratch" });
            Assert.InRange(m.GetProperty("accuracy").GetDouble(), 0, 1);
            Assert.True(m.TryGetProperty("promoted_at", out _));
            await DownloadAsync(m.GetProperty("size").GetString()!, m.GetProperty("digest").GetString()!);
        }
        // The promoted model is the best of its size: never below the other method's final accuracy.
        var run = await JsonAsync($"/api/runs/{runId}");
        foreach (var m in models)
        {
            var size = m.GetProperty("size").GetString()!;
            var finals = run.GetProperty("jobs").EnumerateArray()
                .Where(j => j.GetProperty("description").GetString()!.StartsWith($"evaluate {size}/", StringComparison.Ordinal)
                            && j.GetProperty("description").GetString()!.EndsWith("/final", StringComparison.Ordinal))
                .Select(j => j.GetProperty("results").GetProperty("accuracy").GetDouble()).ToList();
            Assert.Equal(2, finals.Count);
            Assert.Equal(finals.Max(), m.GetProperty("accuracy").GetDouble(), 6);
        }

        // Bad requests: 4xx with a one-line reason, and the registry unchanged.
        using (var r = await http.GetAsync("/api/models/fmnist/3x48x3"))
            AssertProblem(r, HttpStatusCode.NotFound, "no model of size 3x48x3 is promoted for teacher fmnist", await r.Content.ReadAsStringAsync());
        using (var r = await http.GetAsync("/api/models/fmnist/big"))
            AssertProblem(r, HttpStatusCode.BadRequest, "'big' is not a size", await r.Content.ReadAsStringAsync());
        using (var r = await http.SendAsync(Authorized(HttpMethod.Post, "/api/models/fmnist/2x40x2")))
            AssertProblem(r, HttpStatusCode.BadRequest, "the width 40 is not a multiple of the template size 16", await r.Content.ReadAsStringAsync());
        using (var r = await http.SendAsync(Authorized(HttpMethod.Post, "/api/models/fmnist/2x48x5")))
            AssertProblem(r, HttpStatusCode.BadRequest, "heads (5) must divide the width (48)", await r.Content.ReadAsStringAsync());
        using (var r = await http.SendAsync(Authorized(HttpMethod.Post, "/api/models/nobody/2x32x2")))
            AssertProblem(r, HttpStatusCode.NotFound, "teacher nobody is not registered", await r.Content.ReadAsStringAsync());
        using (var r = await http.PostAsync("/api/models/fmnist/2x32x2", null))
            AssertProblem(r, HttpStatusCode.Unauthorized, "bearer token", await r.Content.ReadAsStringAsync());
        Assert.Equal(models.Select(m => m.ToString()), (await ModelsAsync()).Select(m => m.ToString()));

        // A size nobody planned: 202 and a Location to poll; then the model is served, made by WAVE.
        using (var accepted = await http.SendAsync(Authorized(HttpMethod.Post, "/api/models/fmnist/2x32x2")))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            var location = accepted.Headers.Location!.ToString();
            Assert.StartsWith("/api/runs/", location);
            var onDemand = await WaitForRunAsync(Guid.Parse(location["/api/runs/".Length..]));
            Assert.Equal("succeeded", onDemand.GetProperty("status").GetString());
            Assert.DoesNotContain(onDemand.GetProperty("jobs").EnumerateArray(), j => j.GetProperty("description").GetString()!.Contains("scratch"));
        }
        var made = Assert.Single(await ModelsAsync(), m => m.GetProperty("size").GetString() == "2x32x2");
        Assert.Equal("wave", made.GetProperty("method").GetString());
        await DownloadAsync("2x32x2", made.GetProperty("digest").GetString()!);

        // The same teacher again: nothing new runs.
        int runsBefore = (await JsonAsync("/api/runs")).GetArrayLength();
        using (var again = await UploadAsync("fmnist", Checkpoints.TrainedTeacher))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            var result = JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement;
            Assert.False(result.GetProperty("changed").GetBoolean());
        }
        Assert.Equal(runsBefore, (await JsonAsync("/api/runs")).GetArrayLength());

        // A new version: its run decides each size again, and the gate keeps or replaces the promoted model.
        var promotedBefore = (await ModelsAsync()).ToDictionary(m => m.GetProperty("size").GetString()!, m => m.GetProperty("accuracy").GetDouble());
        Guid second;
        using (var v2 = await UploadAsync("fmnist", Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 11)))
        {
            Assert.Equal(HttpStatusCode.Created, v2.StatusCode);
            second = JsonDocument.Parse(await v2.Content.ReadAsStringAsync()).RootElement.GetProperty("startedRuns").EnumerateArray().Single().GetGuid();
        }
        var secondRun = await WaitForRunAsync(second);
        Assert.Equal("succeeded", secondRun.GetProperty("status").GetString());
        // Only what depends on the teacher ran again: scratch models (and their evaluations) came from the records.
        var scratch = secondRun.GetProperty("jobs").EnumerateArray().Where(j => j.GetProperty("description").GetString()!.Contains("scratch")).ToList();
        Assert.Equal(6, scratch.Count);   // 2 sizes x (fine-tune + 2 evaluations)
        Assert.All(scratch, j => Assert.Equal("cached", j.GetProperty("status").GetString()));
        Assert.Contains(secondRun.GetProperty("jobs").EnumerateArray(), j => j.GetProperty("status").GetString() == "succeeded");
        foreach (var size in TinyPipeline.Targets)
        {
            var entry = await JsonAsync($"/api/models/fmnist/{size}/decisions");
            var decision = Assert.Single(entry.GetProperty("history").EnumerateArray(), h => h.GetProperty("run_id").GetGuid() == second);
            var promoted = entry.GetProperty("promoted");
            if (decision.GetProperty("promoted").GetBoolean())
                Assert.True(promoted.GetProperty("accuracy").GetDouble() >= promotedBefore[size] - 0.005, entry.ToString());
            else
                Assert.Equal(promotedBefore[size], promoted.GetProperty("accuracy").GetDouble(), 6);
        }

        // The teacher's versions side by side: accuracy against size per method, and the promoted models.
        var report = await JsonAsync("/api/teachers/fmnist/report");
        var versions = report.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal([1, 2], versions.Select(v => v.GetProperty("version").GetInt32()));
        foreach (var v in versions)
        {
            var cells = v.GetProperty("accuracy").EnumerateArray().Select(a => $"{a.GetProperty("size").GetString()}/{a.GetProperty("method").GetString()}").ToList();
            Assert.Subset(cells.ToHashSet(), TinyPipeline.Targets.SelectMany(t => new[] { $"{t}/wave", $"{t}/scratch" }).ToHashSet());
            Assert.InRange(v.GetProperty("teacher_accuracy").GetDouble(), 0, 1);
        }
        Assert.Contains("2x32x2/wave", versions[0].GetProperty("accuracy").EnumerateArray().Select(a => $"{a.GetProperty("size").GetString()}/{a.GetProperty("method").GetString()}"));
        Assert.Equal((await ModelsAsync()).Select(m => m.GetProperty("digest").GetString()).Order(),
            report.GetProperty("promoted").EnumerateArray().Select(m => m.GetProperty("digest").GetString()).Order());
        using (var unknown = await http.GetAsync("/api/teachers/nobody/report"))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // Stopped in the middle of an on-demand size and started again on the same store: the run resumes and finishes.
        Guid interrupted;
        using (var accepted = await http.SendAsync(Authorized(HttpMethod.Post, "/api/models/fmnist/1x32x2")))
            interrupted = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("run_id").GetGuid();
        Stop();
        Assert.Equal(0, server!.ExitCode);
        await StartAsync(port);
        Assert.Equal("succeeded", (await WaitForRunAsync(interrupted)).GetProperty("status").GetString());
        Assert.Contains(await ModelsAsync(), m => m.GetProperty("size").GetString() == "1x32x2");
        Assert.Equal(2, (await JsonAsync($"/api/models/fmnist/{TinyPipeline.Targets[0]}/decisions")).GetProperty("history").GetArrayLength());
    }
}
