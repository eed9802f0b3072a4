namespace WaveMesh.Models;

/// <summary>Checks a set of named tensors against the names and shapes a model or artifact expects.</summary>
public static class TensorLayout
{
    public static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Throws a <see cref="CheckpointMismatchException"/> naming every missing, unexpected or wrongly shaped tensor.</summary>
    public static void Check(string what, IEnumerable<KeyValuePair<string, long[]>> expected, IReadOnlyDictionary<string, long[]> actual)
    {
        var problems = new List<string>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            known.Add(name);
            if (!actual.TryGetValue(name, out var got)) problems.Add($"missing tensor '{name}' (expected shape {Shape(shape)})");
            else if (!got.SequenceEqual(shape)) problems.Add($"tensor '{name}' has shape {Shape(got)}, expected {Shape(shape)}");
        }
        foreach (var name in actual.Keys.Where(n => !known.Contains(n)).Order(StringComparer.Ordinal))
            problems.Add($"unexpected tensor '{name}' {Shape(actual[name])}");
        if (problems.Count > 0)
            throw new CheckpointMismatchException($"{what}: " + string.Join("; ", problems.Take(8))
                + (problems.Count > 8 ? $"; and {problems.Count - 8} more" : ""));
    }
}

/// <summary>Tensors whose names or shapes do not fit the model or artifact they are loaded into.</summary>
public sealed class CheckpointMismatchException(string message) : Exception(message);
