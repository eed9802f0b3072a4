using System.CommandLine;
using System.Net.Http.Json;
using Spectre.Console;
using WaveMesh.Observability;

namespace WaveMesh.Cli.Commands;

/// <summary><c>wavemesh watch [RUN]</c>: a live table of one run from a control service (or an embedded run's dashboard).</summary>
static class WatchCommand
{
    static readonly Argument<string?> Run = new("run") { Description = "Run id (or its first characters); default: the newest run", Arity = ArgumentArity.ZeroOrOne };
    static readonly Option<string> Url = new("--url") { Description = "Control service (or `run --dashboard`) address", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
    static readonly Option<double> Interval = new("--interval") { Description = "Seconds between refreshes", DefaultValueFactory = _ => 1.0 };

    public static Command Create()
    {
        var command = new Command("watch", "Show a run live in the terminal: every job's state, worker, progress, loss and accuracy") { Run, Url, Interval };
        command.SetAction((parse, _) => Watch(parse));
        return command;
    }

    static async Task<int> Watch(ParseResult parse)
    {
        var ct = CliContext.Cancellation;
        using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(Url)!), Timeout = TimeSpan.FromSeconds(10) };
        var interval = TimeSpan.FromSeconds(Math.Max(0.2, parse.GetValue(Interval)));
        List<RunSummary> runs;
        try { runs = await http.GetFromJsonAsync<List<RunSummary>>("/api/runs", LedgerJson.Options, ct) ?? []; }
        catch (HttpRequestException e) { throw new CliUsageException($"cannot reach {http.BaseAddress}: {e.Message} (start the control service, or `./wavemesh run --dashboard`)"); }
        var wanted = parse.GetValue(Run);
        var summary = wanted is null ? runs.FirstOrDefault()
            : runs.FirstOrDefault(r => r.RunId.ToString().StartsWith(wanted, StringComparison.OrdinalIgnoreCase))
              ?? throw new CliUsageException($"no run {wanted} at {http.BaseAddress}");
        if (summary is null) throw new CliUsageException($"no runs yet at {http.BaseAddress}");

        async Task<LedgerRun> Fetch() =>
            await http.GetFromJsonAsync<LedgerRun>($"/api/runs/{summary.RunId}", LedgerJson.Options, ct)
            ?? throw new CliUsageException($"run {summary.RunId} disappeared");

        var run = await Fetch();
        if (Console.IsOutputRedirected)
        {
            // Logs: one line per job whose state changed.
            var last = new Dictionary<string, string>();
            while (true)
            {
                foreach (var j in run.Jobs.Where(j => last.GetValueOrDefault(j.JobKey) != j.Status))
                {
                    last[j.JobKey] = j.Status;
                    Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {j.Status,-9} {j.Description}{(j.Worker is null ? "" : $" on {j.Worker}")}{Accuracy(j)}");
                }
                if (JobStatus.IsFinal(run.Status) || run.Status != JobStatus.Running) break;
                await Task.Delay(interval, ct);
                run = await Fetch();
            }
            return run.Status == "failed" ? CliErrors.UserError : 0;
        }

        await AnsiConsole.Live(Render(run)).AutoClear(false).StartAsync(async live =>
        {
            while (run.Status == JobStatus.Running && !ct.IsCancellationRequested)
            {
                try { await Task.Delay(interval, ct); } catch (OperationCanceledException) { break; }
                run = await Fetch();
                live.UpdateTarget(Render(run));
            }
        });
        return run.Status == "failed" ? CliErrors.UserError : 0;
    }

    static string Accuracy(LedgerEntry j) => j.Results?.Accuracy is { } a ? $" accuracy {a:P2}" : "";

    static Table Render(LedgerRun run)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"run {run.RunId.ToString()[..8]} · {Markup.Escape(run.Pipeline)} · teacher {Markup.Escape(run.Teacher)} · [bold]{run.Status}[/]")
            .AddColumn("stage").AddColumn("job").AddColumn("status").AddColumn("worker")
            .AddColumn(new TableColumn("progress").RightAligned()).AddColumn(new TableColumn("loss").RightAligned())
            .AddColumn(new TableColumn("img/s").RightAligned()).AddColumn(new TableColumn("accuracy").RightAligned());
        foreach (var j in run.Jobs.OrderBy(j => j.QueuedAt ?? j.StartedAt ?? DateTime.MaxValue))
        {
            var color = j.Status switch { JobStatus.Running => "yellow", JobStatus.Failed => "red", JobStatus.Queued => "grey", _ => "green" };
            var p = j.Progress;
            table.AddRow(j.Stage, Markup.Escape(j.Description), $"[{color}]{j.Status}[/]", Markup.Escape(j.Worker ?? ""),
                p is null ? "" : $"{p.Step}/{p.Steps} ({(double)p.Step / Math.Max(1, p.Steps):P0})",
                p is null ? "" : $"{p.Loss:F3}", p is null ? "" : $"{p.ExamplesPerSecond:F0}",
                j.Results?.Accuracy is { } a ? $"{a:P2}" : j.Error is { } e ? $"[red]{Markup.Escape(e.Length > 40 ? e[..40] + "…" : e)}[/]" : "");
        }
        return table;
    }
}
