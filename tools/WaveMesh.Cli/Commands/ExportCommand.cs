using System.CommandLine;
using WaveMesh.Artifacts;
using WaveMesh.Data;
using WaveMesh.Models;
using WaveMesh.Safetensors;
using WaveMesh.Stages;

namespace WaveMesh.Cli.Commands;

/// <summary>
/// <c>wavemesh export MODEL --out DIR</c>: a model (a file, or a digest in the store) as a folder in timm's hub layout,
/// <c>config.json</c> and <c>model.safetensors</c>, which <c>timm.create_model("local-dir:DIR", pretrained=True)</c> loads.
/// </summary>
static class ExportCommand
{
    static readonly Argument<string> Model = new("model") { Description = "A ViT safetensors file, or the SHA-256 digest of one in the store" };
    static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Folder to write config.json and model.safetensors into", Required = true };

    public static Command Create()
    {
        var command = new Command("export", "Write a model as a timm hub folder (config.json + model.safetensors)") { Model, Out, RunCommand.Store, CliContext.Data };
        command.SetAction((parse, _) => Run(parse));
        return command;
    }

    static async Task<int> Run(ParseResult parse)
    {
        var model = parse.GetValue(Model)!;
        var storeDir = parse.GetValue(RunCommand.Store)!;
        string path;
        if (File.Exists(model)) path = Path.GetFullPath(model);
        else if (ArtifactDigest.IsValid(model))
        {
            var store = new FileArtifactStore(storeDir.FullName);
            path = await store.ExistsAsync(model, CliContext.Cancellation)
                ? await store.GetFileAsync(model, CliContext.Cancellation)
                : throw new CliUsageException($"{model} is not in the store {storeDir.FullName}");
        }
        else throw new CliUsageException($"{model} is neither a file nor a SHA-256 digest");

        string? dataset;
        InputNormalization? recorded;
        VitSpec spec;
        using (var file = SafetensorsFile.Open(path))
        {
            spec = VitCheckpoint.SpecOf(file);
            recorded = InputNormalization.Of(file.Metadata);
            dataset = file.Metadata.GetValueOrDefault(MetadataKeys.Dataset);
        }
        dataset ??= spec.Channels == 3 ? Datasets.Cifar10Name : Datasets.FashionMnistName;
        InputNormalization? fallback = null;
        if (recorded is null)
        {
            // Files made before models recorded their normalisation were trained on the training split's own statistics.
            if (dataset != Datasets.FashionMnistName)
                throw new CliUsageException($"{path} records no input normalisation and was not trained on Fashion-MNIST: it cannot be exported as it is");
            var stats = FashionMnist.Load(parse.GetValue(CliContext.Data), train: true);
            var n = Normalization.FromStatistics(stats);
            stats.Dispose();
            fallback = new InputNormalization(n.Mean, n.Std);
            Console.WriteLine($"{path} records no normalisation: using the Fashion-MNIST training split's (mean {n.Mean[0]:F4}, std {n.Std[0]:F4})");
        }
        var labels = dataset switch
        {
            Datasets.FashionMnistName => FashionMnist.ClassNames,
            Datasets.Cifar10Name => Cifar10.ClassNames,
            _ => null,
        };
        var outDir = parse.GetValue(Out)!;
        RunCommand.EnsureWritable(outDir, "output");
        TimmHub.Export(path, outDir.FullName, fallback, labels?.Length == spec.Classes ? labels : null);
        Console.WriteLine($"Wrote {Path.Combine(outDir.FullName, TimmHub.ConfigFile)} and {TimmHub.WeightsFile} ({spec.Describe()}, {TimmHub.Architecture}); " +
                          $"in Python: timm.create_model(\"local-dir:{outDir.FullName}\", pretrained=True)");
        return 0;
    }
}
