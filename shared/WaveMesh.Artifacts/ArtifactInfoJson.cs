using System.Buffers;
using System.Collections.ObjectModel;
using System.Text.Json;

namespace WaveMesh.Artifacts;

/// <summary>The JSON document stored beside each object, written and read by hand so the format is stable and checked.</summary>
internal static class ArtifactInfoJson
{
    public static byte[] Write(ArtifactInfo info)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("digest", info.Digest);
            writer.WriteNumber("size", info.Size);
            writer.WriteString("kind", info.Kind);
            writer.WriteString("createdAt", info.CreatedAt);
            writer.WriteStartObject("metadata");
            foreach (var pair in info.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.WriteString(pair.Key, pair.Value);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The info in <paramref name="bytes"/>, or null when they are not a valid info document for <paramref name="digest"/>.</summary>
    public static ArtifactInfo? TryRead(byte[] bytes, string digest)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("digest", out var digestElement)
                || digestElement.ValueKind != JsonValueKind.String
                || digestElement.GetString() != digest
                || !root.TryGetProperty("size", out var sizeElement)
                || sizeElement.ValueKind != JsonValueKind.Number
                || !sizeElement.TryGetInt64(out var size)
                || size < 0
                || !root.TryGetProperty("kind", out var kindElement)
                || kindElement.ValueKind != JsonValueKind.String
                || string.IsNullOrWhiteSpace(kindElement.GetString())
                || !root.TryGetProperty("createdAt", out var createdElement)
                || createdElement.ValueKind != JsonValueKind.String
                || !createdElement.TryGetDateTime(out var createdAt)
                || !root.TryGetProperty("metadata", out var metadataElement)
                || metadataElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in metadataElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    return null;
                }

                metadata[property.Name] = property.Value.GetString()!;
            }

            return new ArtifactInfo(
                digest,
                size,
                kindElement.GetString()!,
                new ReadOnlyDictionary<string, string>(metadata),
                createdAt.ToUniversalTime());
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
