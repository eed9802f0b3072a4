using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Models;

/// <summary>
/// What a model expects of its input: pixels scaled to [0, 1], then per channel (x - mean) / std. Written into every
/// model file WaveMesh makes (<see cref="MetadataKeys.Normalization"/>), so the model can be used without guessing.
/// </summary>
public sealed record InputNormalization(
    [property: JsonPropertyName("mean")] float[] Mean,
    [property: JsonPropertyName("std")] float[] Std)
{
    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>The normalisation a model file's metadata records, or null when it records none.</summary>
    public static InputNormalization? Of(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(MetadataKeys.Normalization, out var json)) return null;
        try
        {
            var n = JsonSerializer.Deserialize<InputNormalization>(json);
            return n is { Mean.Length: > 0 } && n.Std?.Length == n.Mean.Length && n.Std.All(s => s > 0) ? n : null;
        }
        catch (JsonException) { return null; }
    }
}
