using System.Collections.Concurrent;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Data;
using WaveMesh.Engine.Training;

namespace WaveMesh.Stages;

/// <summary>
/// Loads the datasets jobs name, once per process. A job that carries a digest gets the data set's archive from the
/// artifact store (verified as it is read) and extracted once per machine under <paramref name="cacheDirectory"/>, in a
/// folder named by the digest; otherwise <c>DatasetRef.Path</c> of a job wins over the worker's default folder.
/// </summary>
public sealed class Datasets(IReadOnlyDictionary<string, string>? defaultPaths = null, string? cacheDirectory = null)
{
    readonly ConcurrentDictionary<(string, string?), Lazy<TrainingData>> loaded = new();
    // Subsets are kept for the process too: a dataset left to the GC would free its native tensors on the finalizer
    // thread, concurrently with training.
    readonly ConcurrentDictionary<(string, string?, int, long), Lazy<TrainingData>> subsets = new();
    readonly string cache = cacheDirectory ?? Path.Combine(Path.GetTempPath(), "wavemesh-datasets");

    public const string FashionMnistName = DatasetArchive.FashionMnist;
    public const string Cifar10Name = DatasetArchive.Cifar10;

    /// <summary>Training and test splits with the normalisation of the training split; the training split cut to the job's subset.</summary>
    /// <param name="store">Where a data set addressed by digest is fetched from.</param>
    public TrainingData Load(DatasetRef data, IArtifactStore? store = null)
    {
        var path = data.Digest is { } digest
            ? Extracted(data.Name, digest, store ?? throw new InvalidOperationException($"data set {data.Name} is addressed by digest and no artifact store was given"))
            : data.Path ?? defaultPaths?.GetValueOrDefault(data.Name);
        var full = loaded.GetOrAdd((data.Name, path), key => new Lazy<TrainingData>(() => LoadFull(key.Item1, key.Item2))).Value;
        if (data.Subset is not { } n || n >= full.Train.Count) return full;
        return subsets.GetOrAdd((data.Name, path, n, data.SubsetSeed),
            key => new Lazy<TrainingData>(() => full with { Train = full.Train.Subset(key.Item3, key.Item4) })).Value;
    }

    /// <summary>The folder holding the extracted archive <paramref name="digest"/>: made once (into a temporary folder, then renamed) and reused.</summary>
    string Extracted(string name, string digest, IArtifactStore store)
    {
        if (!ArtifactDigest.IsValid(digest)) throw new DatasetNotFoundException($"data set {name}: '{digest}' is not a SHA-256 digest");
        var folder = Path.Combine(cache, digest);
        if (Directory.Exists(folder)) return folder;
        var archive = store.GetFileAsync(digest).GetAwaiter().GetResult();
        var temp = Path.Combine(cache, $".{digest}.{Guid.NewGuid():N}");
        try
        {
            DatasetArchive.Extract(name, archive, temp);
            try { Directory.Move(temp, folder); }
            catch (IOException) when (Directory.Exists(folder)) { }   // another process extracted it first
        }
        catch (DatasetArchiveException e) { throw new DatasetNotFoundException($"data set {name} ({digest}): {e.Message}", e); }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return folder;
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
