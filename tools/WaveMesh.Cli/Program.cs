using System.CommandLine;
using WaveMesh.Cli;
using WaveMesh.Cli.Commands;

var root = new RootCommand("WaveMesh: variable-sized ViTs initialised from distilled weight templates (WAVE)")
{
    InspectCommand.Create(),
    ExportCommand.Create(),
    RunCommand.Create(),
    InitCommand.Create(),
    BenchCommand.Create(),
    BenchTableCommand.Create(),
    DiagnoseCommand.Create(),
    WatchCommand.Create(),
    DemoCommand.Create(),
    ServeCommand.Create(),
};

// Redirected output (logs, CI) has no window width; tables would wrap at 80 columns.
if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl-C: stop after the current step and keep what is finished; a second one ends the process.
    if (cancel.IsCancellationRequested) return;
    e.Cancel = true;
    Console.Error.WriteLine("\nwavemesh: stopping after the current step (Ctrl-C again to abort)...");
    cancel.Cancel();
};
CliContext.Cancellation = cancel.Token;

try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return CliErrors.Report(e);
}
