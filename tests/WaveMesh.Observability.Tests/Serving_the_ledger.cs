using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace WaveMesh.Observability.Tests;

public sealed class Serving_the_ledger : IAsyncLifetime
{
    readonly RunLedger ledger = new();
    WebApplication app = null!;
    HttpClient http = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        app = builder.Build();
        app.MapLedgerApi(ledger, new LedgerFeed(ledger));
        app.MapDashboard();
        await app.StartAsync();
        http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task Lists_runs_and_returns_one_run_with_its_jobs()
    {
        ledger.StartRun(Recorded.Run, "nightly", "vit-teacher v3", Recorded.Teacher, DateTime.UtcNow);
        foreach (var m in Recorded.InOrder()) ledger.Apply(m);

        using var runs = JsonDocument.Parse(await http.GetStringAsync("/api/runs"));
        var summary = runs.RootElement.EnumerateArray().Single();
        Assert.Equal("nightly", summary.GetProperty("pipeline").GetString());
        Assert.Equal(4, summary.GetProperty("succeeded").GetInt32());

        using var run = JsonDocument.Parse(await http.GetStringAsync($"/api/runs/{Recorded.Run}"));
        var jobs = run.RootElement.GetProperty("jobs").EnumerateArray().ToList();
        Assert.Equal(4, jobs.Count);
        Assert.Contains(jobs, j => j.GetProperty("stage").GetString() == "evaluate" && j.GetProperty("results").GetProperty("accuracy").GetDouble() == 0.83);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/runs/{Guid.NewGuid()}")).StatusCode);
    }

    [Fact]
    public async Task Answers_the_lineage_of_an_artifact()
    {
        foreach (var m in Recorded.InOrder()) ledger.Apply(m);
        using var lineage = JsonDocument.Parse(await http.GetStringAsync($"/api/lineage/{Recorded.WaveFinal}"));
        var stages = lineage.RootElement.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("stage").GetString()).ToHashSet();
        Assert.Contains("finetune", stages);
        Assert.Contains("evaluate", stages);
        Assert.Contains("distill", stages);
    }

    [Fact]
    public async Task Streams_a_run_each_time_it_changes()
    {
        using var stream = await http.GetStreamAsync("/api/events");
        using var reader = new StreamReader(stream);
        Assert.Equal(": connected", await reader.ReadLineAsync());

        ledger.Apply(Recorded.Distill);
        string? line;
        do line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)); while (line is not null && !line.StartsWith("data: "));

        using var run = JsonDocument.Parse(line!["data: ".Length..]);
        Assert.Equal(Recorded.Run, run.RootElement.GetProperty("run_id").GetGuid());
        Assert.Equal("queued", run.RootElement.GetProperty("jobs")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task Serves_the_dashboard_page()
    {
        var page = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("WaveMesh", await page.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/dashboard/missing.js")).StatusCode);
    }
}
