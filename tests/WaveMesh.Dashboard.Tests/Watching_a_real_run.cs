using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using WaveMesh.Testing;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace WaveMesh.Dashboard.Tests;

/// <summary>
/// The dashboard following a real run: a tiny pipeline run by <c>wavemesh serve</c> (a separate process) while the
/// page is open. What a person checks: the run appears, its jobs change state live, the accuracy chart has a point per
/// evaluated model, and the registry lists the promoted models.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Watching_a_real_run(Chromium chromium, ITestOutputHelper output) : IClassFixture<Chromium>, IDisposable
{
    readonly string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "wavemesh-dashboard-tests", Guid.NewGuid().ToString("N"))).FullName;
    ServeProcess? serve;

    public void Dispose()
    {
        if (serve is not null) output.WriteLine(serve.Log);
        serve?.Dispose();
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Shows_a_run_of_wavemesh_serve_live_with_a_point_per_evaluated_model_and_the_promoted_models()
    {
        serve = await ServeProcess.StartAsync(Path.Combine(folder, "store"), ServeProcess.FreePort());
        var api = serve.Http;
        var teacher = new ByteArrayContent(Checkpoints.TrainedTeacher);
        teacher.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using (var uploaded = await api.PostAsync("/api/teachers/fmnist", teacher))
            Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);

        await using var dashboard = await DashboardPage.OpenAsync(chromium, serve.BaseAddress.ToString());
        var page = dashboard.Page;
        await page.EvaluateAsync("() => window.__sameDocument = true");

        // The pipeline is registered while the page is open: its run must appear without a reload.
        var config = TinyPipeline.Pipeline(methods: ["wave", "scratch"], distillEpochs: 0.1, curvePoints: 2);
        using var put = await api.PutAsJsonAsync("/api/pipelines/tiny", new { teacher = "fmnist", config });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var runId = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement.GetProperty("run").GetGuid().ToString();
        var item = page.Locator($"#runs [data-run='{runId}']");
        await Expect(item).ToBeVisibleAsync(new() { Timeout = 30_000 });

        // Its jobs change state while the page watches: statuses seen on the graph, sampled until the run ends.
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (await item.GetAttributeAsync("data-status") == "running")
        {
            Assert.True(DateTime.UtcNow < deadline, "the run did not end within 5 minutes");
            foreach (var status in await page.Locator("#graph [data-job]").EvaluateAllAsync<string[]>("nodes => nodes.map(n => n.dataset.status)"))
                seen.Add(status);
            await Task.Delay(150);
        }
        await Expect(item).ToHaveAttributeAsync("data-status", "succeeded");
        Assert.True(seen.Overlaps(["queued", "running"]), $"no job was seen queued or running, only: {string.Join(", ", seen)}");
        await Expect(page.Locator("#graph [data-job][data-status='queued'], #graph [data-job][data-status='running']")).ToHaveCountAsync(0);
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");

        // A point per evaluated model: 2 sizes x 2 methods, before and after stage 3.
        var chart = page.Locator("#accuracy-chart");
        await Expect(chart.Locator("circle.point[data-phase='final']")).ToHaveCountAsync(4);
        await Expect(chart.Locator("circle.point[data-phase='init']")).ToHaveCountAsync(4);

        // The registry lists what the API says is promoted.
        var models = JsonDocument.Parse(await api.GetStringAsync("/api/models")).RootElement.EnumerateArray().ToList();
        Assert.Equal(TinyPipeline.Targets, models.Select(m => m.GetProperty("size").GetString()).Order());
        var registry = page.Locator("#registry-card");
        await Expect(registry).ToBeVisibleAsync(new() { Timeout = 15_000 });
        foreach (var m in models)
            await Expect(registry.Locator($"[data-teacher='fmnist'] tr[data-size='{m.GetProperty("size").GetString()}']"))
                .ToHaveAttributeAsync("data-method", m.GetProperty("method").GetString()!, new() { Timeout = 15_000 });
        await Expect(registry.Locator("svg.registry-chart circle.point")).ToHaveCountAsync(4, new() { Timeout = 15_000 });

        foreach (var p in dashboard.Problems) output.WriteLine(p);
        Assert.Empty(dashboard.Problems);

        // The README's screenshot is this page (WAVEMESH_UPDATE_SCREENSHOT=1 copies it to docs/images/).
        var file = Path.Combine(Screenshots.ArtifactsDirectory, "dashboard.png");
        await page.ScreenshotAsync(new() { Path = file, FullPage = true });
        foreach (var written in Screenshots.Publish(file)) output.WriteLine($"screenshot: {written}");
    }
}
