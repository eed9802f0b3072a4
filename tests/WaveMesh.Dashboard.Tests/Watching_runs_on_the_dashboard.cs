using System.Text.RegularExpressions;
using Microsoft.Playwright;
using WaveMesh.Observability;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace WaveMesh.Dashboard.Tests;

/// <summary>
/// The dashboard in a real browser against the real ledger API: three runs, the current one half-way through, moved
/// on by the test one message at a time while the page is open.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Watching_runs_on_the_dashboard(Chromium chromium, ITestOutputHelper output) : IClassFixture<Chromium>, IAsyncLifetime
{
    readonly RunLedger ledger = new();
    SizesScenario scenario = null!;
    DashboardServer server = null!;

    public async Task InitializeAsync()
    {
        SetDefaultExpectTimeout(10_000);
        scenario = SizesScenario.Build(ledger);
        server = await DashboardServer.StartAsync(ledger);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    async Task<DashboardPage> OpenAsync(string hash = "", int width = 1440, int height = 900, string? initScript = null)
    {
        var dashboard = await DashboardPage.OpenAsync(chromium, server.Url + hash, width, height, initScript);
        await Expect(dashboard.Page.Locator("#graph [data-job]").First).ToBeVisibleAsync();
        return dashboard;
    }

    static ILocator Node(IPage page, string key) => page.Locator($"#graph [data-job='{key}']");

    void NoProblems(DashboardPage dashboard)
    {
        foreach (var p in dashboard.Problems) output.WriteLine(p);
        Assert.Empty(dashboard.Problems);
    }

    [Fact]
    public async Task Loads_without_errors_and_lists_the_runs_newest_first_with_the_running_one_open()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;

        var runs = page.Locator("#runs [data-run]");
        await Expect(runs).ToHaveCountAsync(3);
        Assert.Equal([scenario.Current.RunId.ToString(), scenario.FailedRun.ToString(), scenario.DemoRun.ToString()],
            await runs.EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.run)"));
        Assert.Equal(["running", "failed", "succeeded"], await runs.EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.status)"));
        await Expect(page.Locator("#runs .run-item.selected")).ToHaveAttributeAsync("data-run", scenario.Current.RunId.ToString());
        await Expect(runs.First).ToContainTextAsync(SizesScenario.Pipeline);
        await Expect(runs.First).ToContainTextAsync(SizesScenario.TeacherName);
        await Expect(page.Locator("#run-header h1")).ToHaveTextAsync(SizesScenario.Pipeline);
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");

        // The graph has every lane, the teacher and stage 1, with the states the ledger holds.
        foreach (var target in new[] { "L4 D64 H2", "L6 D96 H3", "L6 D160 H5", "L8 D192 H6" })
            await Expect(page.Locator($"#graph [data-lane='{target}']")).ToHaveCountAsync(1);
        await Expect(Node(page, scenario.Templates.JobKey)).ToHaveAttributeAsync("data-status", "succeeded");
        await Expect(Node(page, scenario.LiveFinetune.Key)).ToHaveAttributeAsync("data-status", "running");
        await Expect(Node(page, scenario.QueuedEvaluation.Key)).ToHaveAttributeAsync("data-status", "queued");
        await Expect(page.Locator("#graph [data-status='cached']")).ToHaveCountAsync(9); // three scratch fine-tunes and their six evaluations
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Follows_a_run_live_without_reloading()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        await page.EvaluateAsync("() => window.__sameDocument = true");
        var card = page.Locator($"#progress .progress-card[data-job='{scenario.LiveFinetune.Key}']");
        await Expect(card.Locator(".step")).ToHaveAttributeAsync("data-step", "150");

        scenario.AdvanceLiveFinetune(300);
        await Expect(card.Locator(".step")).ToHaveAttributeAsync("data-step", "300");
        await Expect(card.Locator(".step")).ToContainTextAsync("300 / 600 steps");
        await Expect(card.Locator(".pct")).ToHaveTextAsync("50.0%");

        scenario.AdvanceLiveFinetune(450);
        await Expect(card.Locator(".step")).ToHaveAttributeAsync("data-step", "450");
        await Expect(Node(page, scenario.LiveFinetune.Key)).ToHaveAttributeAsync("data-status", "running");

        var (init, final) = scenario.FinishLiveFinetune();
        await Expect(Node(page, scenario.LiveFinetune.Key)).ToHaveAttributeAsync("data-status", "succeeded");
        await Expect(card).ToHaveCountAsync(0);
        await Expect(Node(page, init.Key)).ToHaveAttributeAsync("data-status", "queued");
        await Expect(Node(page, final.Key)).ToHaveAttributeAsync("data-status", "queued");

        var point = page.Locator("#accuracy-chart circle.point[data-method='wave'][data-phase='final'][data-target='L6 D160 H5']");
        await Expect(point).ToHaveCountAsync(0);
        scenario.Evaluate(init, 0.8164);
        scenario.Evaluate(final, 0.8712);
        await Expect(Node(page, final.Key)).ToHaveAttributeAsync("data-status", "succeeded");
        await Expect(Node(page, final.Key)).ToContainTextAsync("87.12%");
        await Expect(point).ToHaveAttributeAsync("data-accuracy", "0.8712");

        // The list of runs follows too: one more job done in the current run.
        await Expect(page.Locator($"#runs [data-run='{scenario.Current.RunId}'] .run-counts")).ToContainTextAsync("1 running");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page was reloaded");
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Plots_accuracy_against_size_for_wave_and_the_baselines()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;
        var chart = page.Locator("#accuracy-chart");
        await Expect(chart.Locator("circle.point[data-method='wave'][data-phase='final']")).ToHaveCountAsync(2);
        await Expect(chart.Locator("circle.point[data-method='scratch'][data-phase='final']")).ToHaveCountAsync(3);
        await Expect(chart.Locator("circle.point[data-method='weight_selection'][data-phase='final']")).ToHaveCountAsync(1);
        await Expect(chart.Locator("circle.point[data-method='wave'][data-phase='init']")).ToHaveCountAsync(2);
        await Expect(chart.Locator("circle.point[data-method='scratch'][data-phase='init']")).ToHaveCountAsync(3);
        await Expect(chart).ToContainTextAsync("parameters (log scale)");
        await Expect(chart).ToContainTextAsync("test accuracy");
        await Expect(chart).ToContainTextAsync("at initialisation");
        await Expect(chart).ToContainTextAsync("teacher 86.9%");
        await Expect(page.Locator("#accuracy .chart-legend")).ToContainTextAsync("WAVE");
        await Expect(page.Locator("#accuracy .chart-legend")).ToContainTextAsync("scratch");

        // Wave sits above scratch at the same size.
        var wave = double.Parse(await chart.Locator("circle.point[data-method='wave'][data-phase='final'][data-target='L4 D64 H2']").GetAttributeAsync("cy") ?? "");
        var scratch = double.Parse(await chart.Locator("circle.point[data-method='scratch'][data-phase='final'][data-target='L4 D64 H2']").GetAttributeAsync("cy") ?? "");
        Assert.True(wave < scratch, $"WAVE (y {wave}) should be drawn above scratch (y {scratch})");

        // Exact numbers in the tooltip.
        await chart.Locator("circle.point[data-method='wave'][data-phase='final'][data-target='L4 D64 H2']").HoverAsync();
        var tip = page.Locator("#tooltip");
        await Expect(tip).ToBeVisibleAsync();
        await Expect(tip).ToContainTextAsync("WAVE · L4 D64 H2");
        await Expect(tip).ToContainTextAsync("after training: 84.25%");
        await Expect(tip).ToContainTextAsync("at initialisation: 74.18%");
        await Expect(tip).ToContainTextAsync($"{FabricatedRun.Parameters(SizesScenario.Small):N0} parameters");
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Shows_why_a_job_failed()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;
        var failure = page.Locator($"#failures .failure[data-job='{scenario.FailedFinetune.Key}']");
        await Expect(failure.Locator(".error")).ToHaveTextAsync(SizesScenario.FailureReason);
        await Expect(failure).ToContainTextAsync("Fine-tune · L8 D192 H6 · scratch");
        await Expect(Node(page, scenario.FailedFinetune.Key)).ToHaveAttributeAsync("data-status", "failed");
        await Expect(page.Locator("#failure-count")).ToHaveTextAsync("1");
        await Expect(failure).ToContainTextAsync("stopped at step 212 of 600, loss NaN");

        await failure.ClickAsync();
        await Expect(page.Locator("#drawer")).ToBeVisibleAsync();
        await Expect(page.Locator("#drawer .drawer-error")).ToContainTextAsync(SizesScenario.FailureReason);

        // The failed run of yesterday says why too.
        await page.Locator($"#runs [data-run='{scenario.FailedRun}']").ClickAsync();
        await Expect(page.Locator("#failures .failure")).ToHaveCountAsync(2);
        await Expect(page.Locator("#failures")).ToContainTextAsync("teacher checkpoint is corrupt");
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Opens_a_job_and_follows_the_lineage_of_its_input()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;
        await Node(page, scenario.WaveSmallFinal.Key).ClickAsync();
        var drawer = page.Locator("#drawer");
        await Expect(drawer).ToBeVisibleAsync();
        await Expect(drawer.Locator("h2")).ToHaveTextAsync("Evaluate · L4 D64 H2 · WAVE · final");
        await Expect(drawer).ToContainTextAsync("84.25%");
        Assert.Contains($"job={scenario.WaveSmallFinal.Key}", page.Url);
        await Expect(Node(page, scenario.WaveSmallFinal.Key)).ToHaveClassAsync(new Regex("selected"));

        // The model it measured: produced by the WAVE fine-tune, which started from the scalers' model, made from the templates.
        await drawer.Locator($".lineage-button[data-digest='{scenario.WaveSmallFinal.ModelDigest}']").ClickAsync();
        var lineage = drawer.Locator(".lineage");
        await Expect(lineage).ToContainTextAsync("Came from");
        await Expect(lineage.Locator($"[data-job='{scenario.Templates.JobKey}']")).ToHaveCountAsync(1);
        await Expect(lineage.Locator(".lineage-job")).ToHaveCountAsync(4); // distil, scalers, fine-tune; and this evaluation reads it
        await Expect(lineage).ToContainTextAsync("Scalers · L4 D64 H2");
        await Expect(lineage).ToContainTextAsync("Fine-tune · L4 D64 H2 · WAVE");
        await Expect(Node(page, scenario.Templates.JobKey)).ToHaveClassAsync(new Regex(@"\blit\b"));
        await Expect(Node(page, scenario.FailedFinetune.Key)).ToHaveClassAsync(new Regex(@"\bdim\b"));

        // A job of the lineage opens in its turn; Escape closes the panel.
        await lineage.Locator($"[data-job='{scenario.Templates.JobKey}']").ClickAsync();
        await Expect(drawer.Locator("h2")).ToHaveTextAsync("Distil templates · L4 D128 H4");
        await page.Keyboard.PressAsync("Escape");
        await Expect(drawer).ToBeHiddenAsync();
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Opens_the_run_a_link_names()
    {
        await using var dashboard = await OpenAsync($"#run={scenario.DemoRun}");
        var page = dashboard.Page;
        await Expect(page.Locator("#runs .run-item.selected")).ToHaveAttributeAsync("data-run", scenario.DemoRun.ToString());
        await Expect(page.Locator("#run-header h1")).ToHaveTextAsync("demo");
        await Expect(page.Locator("#graph [data-method='teacher'][data-stage='finetune']")).ToHaveAttributeAsync("data-status", "succeeded");
        await Expect(page.Locator("#accuracy-chart .teacher-point")).ToHaveCountAsync(1);

        await page.Locator($"#runs [data-run='{scenario.FailedRun}']").ClickAsync();
        await Expect(page.Locator("#run-header h1")).ToHaveTextAsync(SizesScenario.Pipeline);
        Assert.EndsWith($"#run={scenario.FailedRun}", page.Url);
        await page.GoBackAsync();
        await Expect(page.Locator("#runs .run-item.selected")).ToHaveAttributeAsync("data-run", scenario.DemoRun.ToString());
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Polls_every_two_seconds_when_server_sent_events_are_unavailable()
    {
        await using var dashboard = await OpenAsync(initScript: "delete window.EventSource; window.EventSource = undefined;");
        var page = dashboard.Page;
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "polling");
        var step = page.Locator($"#progress .progress-card[data-job='{scenario.LiveFinetune.Key}'] .step");
        await Expect(step).ToHaveAttributeAsync("data-step", "150");
        scenario.AdvanceLiveFinetune(300);
        await Expect(step).ToHaveAttributeAsync("data-step", "300");
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Reconnects_when_the_server_comes_back()
    {
        await using var dashboard = await OpenAsync();
        var page = dashboard.Page;
        var conn = page.Locator("#conn");
        await Expect(conn).ToHaveAttributeAsync("data-state", "live");
        var port = new Uri(server.Url).Port;

        await server.DisposeAsync();
        await Expect(conn).ToHaveAttributeAsync("data-state", new Regex("^(reconnecting|offline)$"));
        scenario.AdvanceLiveFinetune(300); // happens while the page cannot hear of it
        server = await DashboardServer.StartAsync(ledger, port);

        await Expect(conn).ToHaveAttributeAsync("data-state", "live", new() { Timeout = 30_000 });
        var step = page.Locator($"#progress .progress-card[data-job='{scenario.LiveFinetune.Key}'] .step");
        await Expect(step).ToHaveAttributeAsync("data-step", "300");
        scenario.AdvanceLiveFinetune(315);
        await Expect(step).ToHaveAttributeAsync("data-step", "315");
        // While the server was away the browser reported refused connections; the page itself never failed.
        Assert.DoesNotContain(dashboard.Problems, p => p.StartsWith("uncaught"));
    }

    [Fact]
    public async Task Fits_a_1280_by_800_screen()
    {
        await using var dashboard = await OpenAsync(width: 1280, height: 800);
        var page = dashboard.Page;
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways");
        Assert.True(await page.EvaluateAsync<bool>("() => { const g = document.getElementById('graph'); return g.scrollWidth <= g.clientWidth; }"),
            "the pipeline graph scrolls sideways");
        // The graph starts on the first screen.
        var box = await page.Locator("#graph").BoundingBoxAsync();
        Assert.NotNull(box);
        Assert.True(box.Y < 800, $"graph starts at y = {box.Y}");
        NoProblems(dashboard);
    }

    [Fact]
    public async Task Saves_a_screenshot()
    {
        // Move the run on to a moment that shows every state: a finished WAVE branch, one running job, one failure.
        var (init, final) = scenario.FinishLiveFinetune();
        scenario.Evaluate(init, 0.8164);
        scenario.Evaluate(final, 0.8712);
        scenario.Evaluate(scenario.QueuedEvaluation, 0.8463);
        scenario.AdvanceLiveScalers(132);

        await using var dashboard = await OpenAsync(width: 1440, height: 900);
        var page = dashboard.Page;
        await Expect(page.Locator("#accuracy-chart circle.point")).ToHaveCountAsync(16);
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        // Kept in TestResults only: the README's picture comes from a real run (scripts/dashboard-screenshot.sh).
        var file = await SaveAsync(page, "dashboard-fabricated.png", fullPage: true, docs: false);
        Assert.True(new FileInfo(file).Length > 20_000);

        // A job's details with the lineage of the model it measured, highlighted in the graph.
        await Node(page, scenario.WaveSmallFinal.Key).ClickAsync();
        await page.Locator($"#drawer .lineage-button[data-digest='{scenario.WaveSmallFinal.ModelDigest}']").ClickAsync();
        await Expect(page.Locator("#drawer .lineage-job")).ToHaveCountAsync(4);
        await page.Mouse.MoveAsync(0, 0);
        await SaveAsync(page, "dashboard-lineage.png", docs: false);

        // The first screen on a 1280x800 display.
        await page.Keyboard.PressAsync("Escape");
        await page.SetViewportSizeAsync(1280, 800);
        await Expect(page.Locator("#drawer")).ToBeHiddenAsync();
        await page.WaitForFunctionAsync("() => { const g = document.getElementById('graph'); return g.scrollWidth <= g.clientWidth; }");
        await SaveAsync(page, "dashboard-1280x800.png", docs: false);
        NoProblems(dashboard);
    }

    async Task<string> SaveAsync(IPage page, string name, bool fullPage = false, bool docs = true)
    {
        await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");
        var file = Path.Combine(Screenshots.ArtifactsDirectory, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = fullPage });
        foreach (var written in Screenshots.Publish(file, toDocs: docs)) output.WriteLine($"screenshot: {written}");
        return file;
    }
}
