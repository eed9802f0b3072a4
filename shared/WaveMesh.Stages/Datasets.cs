using System.Collections.Concurrent;
using WaveMesh.Contracts;
using WaveMesh.Data;
using WaveMesh.Engine.Training;

namespace WaveMesh.Stages;

/// <summary>Loads the datasets jobs name, once per process; <c>DatasetRef.Path</c> of a job wins over the worker's default folder.</summary>
public sealed class Datasets(IReadOnlyDictionary<string, string>? defaultPaths = null)
{
    readonly ConcurrentDictionary<(string, string?), Lazy<TrainingData>> loaded = new();
    // Subsets are kept for the process too: a dataset left to the GC would free its native tensors on the finalizer
    // thread, concurrently with training.
    readonly ConcurrentDictionary<(string, string?, int, long), Lazy<TrainingData>> subsets = new();

    public const string FashionMnistName = "fashion-mnist";
    public const string Cifar10Name = "cifar-10";

    /// <summary>Training and test splits with the normalisation of the training split; the training split cut to the job's subset.</summary>
    public TrainingData Load(DatasetRef data)
    {
        var path = data.Path ?? defaultPaths?.GetValueOrDefault(data.Name);
        var full = loaded.GetOrAdd((data.Name, path), key => new Lazy<TrainingData>(() => LoadFull(key.Item1, key.Item2))).Value;
        if (data.Subset is not { } n || n >= full.Train.Count) return full;
        return subsets.GetOrAdd((data.Name, path, n, data.SubsetSeed),
            key => new Lazy<TrainingData>(() => full with { Train = full.Train.Subset(key.Item3, key.Item4) })).Value;
    }

    static TrainingData LoadFull(string name, string? path) => name switch
    {
        FashionMnistName => TrainingData.From(FashionMnist.Load(path, train: true), FashionMnist.Load(path, train: false)),
        Cifar10Name => TrainingData.From(
            Cifar10.Load(path ?? throw new DatasetNotFoundException("CIFAR-10 needs a folder: set data.path to the cifar-10-batches-bin folder"), train: true),
            Cifar10.Load(path, train: false)),
        _ => throw new DatasetNotFoundException($"unknown dataset '{name}': use {FashionMnistName} or {Cifar10Name}"),
    };
}
