namespace WaveMesh.Contracts;

/// <summary>Depth, width and heads: what changes between the sizes of one model family.</summary>
public sealed record ModelSize(int Depth, int Width, int Heads)
{
    public override string ToString() => $"L{Depth} D{Width} H{Heads}";

    /// <summary>Parses "LxDxH" (e.g. 6x160x5).</summary>
    public static bool TryParse(string text, out ModelSize size)
    {
        size = new ModelSize(0, 0, 0);
        var parts = text.Trim().Split('x', 'X');
        if (parts.Length != 3 || !int.TryParse(parts[0], out var l) || !int.TryParse(parts[1], out var d) || !int.TryParse(parts[2], out var h))
            return false;
        size = new ModelSize(l, d, h);
        return true;
    }

    public string Slug => $"{Depth}x{Width}x{Heads}";
}

/// <summary>What every size of a family shares: input, patch size, MLP ratio, classes and pooling ("token" or "mean").</summary>
public sealed record ModelFamily(int ImageSize = 28, int Channels = 1, int PatchSize = 7, int MlpRatio = 4, int Classes = 10, string Pooling = "token");

/// <summary>A dataset a worker loads locally: its name ("fashion-mnist" or "cifar-10"), an optional folder, and an optional deterministic subset.</summary>
public sealed record DatasetRef(string Name = "fashion-mnist", string? Path = null, int? Subset = null, long SubsetSeed = 0);

/// <summary>One training schedule: AdamW with warm-up and cosine decay.</summary>
public sealed record TrainSettings(int Steps, int BatchSize = 128, double LearningRate = 1e-3, double WeightDecay = 0.05,
    double WarmupFraction = 0.05, string Augmentation = "none");

/// <summary>Template size w and template counts per category.</summary>
public sealed record TemplateSettings(int Size = 32, int Matrix = 8, int Vector = 4, int Embedding = 8);

/// <summary>Where a model to fine-tune starts: a stored model, a fresh timm initialisation, or weight selection from a teacher.</summary>
public sealed record InitSource(string Kind, string? Digest = null)
{
    public const string Model = "model";
    public const string Scratch = "scratch";
    public const string WeightSelection = "weight_selection";
}

/// <summary>Accuracy on a fixed test subset after a number of training steps.</summary>
public sealed record CurvePoint(int Step, double Accuracy);

/// <summary>What a stage did: steps, wall time, throughput, whether it was answered from the cache, and who ran it.</summary>
public sealed record StageStats(int Steps, double Seconds, double ExamplesPerSecond, bool Cached, string Worker);
