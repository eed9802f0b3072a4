using System.CommandLine;
using WaveMesh.Benchmarks;

namespace WaveMesh.Cli.Commands;

/// <summary><c>wavemesh bench-table</c>: the ablations of the WAVE recipe in one Markdown table (benchmarks/results/ablations.md).</summary>
static class BenchTableCommand
{
    static readonly Option<DirectoryInfo> Results = new("--results") { Description = "Folder holding one folder of cells per ablation", DefaultValueFactory = _ => new DirectoryInfo("benchmarks/results/ablations") };
    static readonly Option<DirectoryInfo> Configs = new("--configs") { Description = "Folder of the ablations' configurations", DefaultValueFactory = _ => new DirectoryInfo("benchmarks/ablations") };
    static readonly Option<FileInfo> Out = new("--out") { Description = "Markdown file to write", DefaultValueFactory = _ => new FileInfo("benchmarks/results/ablations.md") };

    public static Command Create()
    {
        var command = new Command("bench-table", "Write the ablations of the WAVE recipe as one table") { Results, Configs, Out };
        command.SetAction(parse =>
        {
            var results = parse.GetValue(Results)!;
            if (!results.Exists) throw new CliUsageException($"no ablation results in {results.FullName}: run benchmarks/ablate.sh first");
            var ablations = AblationTable.Load(results.FullName, parse.GetValue(Configs)!.FullName);
            var budgets = ablations.SelectMany(a => a.Cells).Select(c => c.Cell.BudgetEpochs).Distinct().Order().ToList();
            var outFile = parse.GetValue(Out)!;
            File.WriteAllText(outFile.FullName, AblationTable.ToMarkdown(ablations, budgets));
            Console.WriteLine($"{ablations.Count} ablations, {ablations.Sum(a => a.Cells.Count)} cells: {outFile.FullName}");
            return 0;
        });
        return command;
    }
}
