using Microsoft.Playwright;

namespace WaveMesh.Dashboard.Tests;

/// <summary>
/// Debian's headless Chromium driven by Playwright (which cannot download a browser of its own here). One browser per
/// test class; every test opens its own context and page.
/// </summary>
public sealed class Chromium : IAsyncLifetime
{
    public const string ExecutablePath = "/usr/bin/chromium";

    static readonly string[] Args =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

    IPlaywright? playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException($"{ExecutablePath} is missing: install Debian's chromium (scripts/install-deps.sh does)");
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ExecutablePath, Headless = true, Args = Args });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        playwright?.Dispose();
    }
}

/// <summary>A page of the dashboard that records every console error, uncaught exception and failed request.</summary>
public sealed class DashboardPage : IAsyncDisposable
{
    readonly IBrowserContext context;
    readonly List<string> problems = [];

    DashboardPage(IBrowserContext context, IPage page)
    {
        this.context = context;
        Page = page;
        page.Console += (_, m) => { if (m.Type == "error") Record($"console error: {m.Text}"); };
        page.PageError += (_, e) => Record($"uncaught: {e}");
        page.RequestFailed += (_, r) =>
        {
            // The event stream is cut when the page closes; that is not the page's fault.
            if (!r.Url.Contains("/api/events")) Record($"request failed: {r.Url} ({r.Failure})");
        };
        page.Response += (_, r) => { if (r.Status >= 400) Record($"HTTP {r.Status}: {r.Url}"); };
    }

    public IPage Page { get; }

    /// <summary>Console errors, uncaught exceptions, failed requests and HTTP errors seen so far.</summary>
    public IReadOnlyList<string> Problems { get { lock (problems) return [.. problems]; } }

    void Record(string problem) { lock (problems) problems.Add(problem); }

    public static async Task<DashboardPage> OpenAsync(Chromium chromium, string url, int width = 1440, int height = 900, string? initScript = null)
    {
        var context = await chromium.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        if (initScript is not null) await context.AddInitScriptAsync(initScript);
        var page = await context.NewPageAsync();
        var dashboard = new DashboardPage(context, page);
        await page.GotoAsync(url);
        return dashboard;
    }

    public async ValueTask DisposeAsync() => await context.CloseAsync();
}
