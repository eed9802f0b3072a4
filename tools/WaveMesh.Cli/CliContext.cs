using System.CommandLine;
using WaveMesh.Data;
using WaveMesh.Engine.Training;

namespace WaveMesh.Cli;

/// <summary>Process-wide state of one invocation: the Ctrl-C token and the options every training command shares.</summary>
static class CliContext
{
    public static CancellationToken Cancellation { get; set; }

    public static readonly Option<string> Device = new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
    public static readonly Option<int> Threads = new("--threads") { Description = "CPU threads for libtorch (0: libtorch's default)", DefaultValueFactory = _ => 0 };
    public static readonly Option<long> Seed = new("--seed") { Description = "Seed for initialisation and data order", DefaultValueFactory = _ => 0 };
    public static readonly Option<string?> Data = new("--data") { Description = $"Fashion-MNIST folder (default {FashionMnist.DefaultRoot})" };

    public static void AddEngineOptions(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Threads);
        command.Options.Add(Seed);
        command.Options.Add(Data);
    }

    public static (TorchSharp.torch.Device Device, EngineOptions Options) Engine(ParseResult parse)
    {
        var options = new EngineOptions(parse.GetValue(Device)!, parse.GetValue(Threads), parse.GetValue(Seed));
        return (EngineRuntime.Configure(options), options);
    }

    public static TrainingData LoadFashionMnist(ParseResult parse)
    {
        var root = parse.GetValue(Data);
        Console.WriteLine($"Loading Fashion-MNIST from {root ?? FashionMnist.DefaultRoot}");
        return TrainingData.From(FashionMnist.Load(root, train: true), FashionMnist.Load(root, train: false));
    }
}
