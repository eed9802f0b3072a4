using System.CommandLine;
using Spectre.Console;
using WaveMesh.Safetensors;

namespace WaveMesh.Cli.Commands;

/// <summary><c>wavemesh inspect FILE</c>: a checkpoint's tensors (name, dtype, shape) and metadata; corrupt files are refused.</summary>
static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "A safetensors file (model, templates or scalers)" };
        var command = new Command("inspect", "List a safetensors checkpoint's tensors and metadata") { file };
        command.SetAction(parse => Run(parse.GetValue(file)!));
        return command;
    }

    static int Run(FileInfo path)
    {
        if (!path.Exists) throw new FileNotFoundException($"no such file: {path.FullName}", path.FullName);
        using var file = SafetensorsFile.Open(path.FullName);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(path.FullName)}[/]  {path.Length:N0} bytes, {file.Tensors.Count} tensors, " +
                               $"{file.Tensors.Sum(t => t.ElementCount):N0} parameters");
        if (file.Metadata.Count > 0)
        {
            var meta = new Table().Border(TableBorder.Simple).AddColumn("metadata").AddColumn("value");
            foreach (var (key, value) in file.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                meta.AddRow(Markup.Escape(key), Markup.Escape(value));
            AnsiConsole.Write(meta);
        }
        var table = new Table().Border(TableBorder.Simple).AddColumn("tensor").AddColumn("dtype").AddColumn("shape").AddColumn(new TableColumn("elements").RightAligned());
        foreach (var t in file.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            table.AddRow(Markup.Escape(t.Name), t.Dtype.ToHeaderName(), Markup.Escape("[" + string.Join(", ", t.Shape) + "]"), t.ElementCount.ToString("N0"));
        AnsiConsole.Write(table);
        return 0;
    }
}
