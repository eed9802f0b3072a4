using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace WaveMesh.Artifacts;

public sealed partial class FileArtifactStore
{
    // Throws on lone surrogates: replacing them would let two different keys share one file.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public async Task<bool> TryAddRecordAsync(string key, string json, CancellationToken cancellation = default)
    {
        var path = RecordPath(key);
        var bytes = RecordDocument(key, json);
        cancellation.ThrowIfCancellationRequested();
        return await WriteSmallFileAsync(path, bytes, overwrite: false, cancellation).ConfigureAwait(false);
    }

    public async Task SetRecordAsync(string key, string json, CancellationToken cancellation = default)
    {
        var path = RecordPath(key);
        var bytes = RecordDocument(key, json);
        cancellation.ThrowIfCancellationRequested();
        await WriteSmallFileAsync(path, bytes, overwrite: true, cancellation).ConfigureAwait(false);
    }

    public async Task<string?> GetRecordAsync(string key, CancellationToken cancellation = default)
    {
        var path = RecordPath(key);
        cancellation.ThrowIfCancellationRequested();
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        return ReadRecordValue(path, key, bytes);
    }

    public Task<bool> DeleteRecordAsync(string key, CancellationToken cancellation = default)
    {
        var path = RecordPath(key);
        if (cancellation.IsCancellationRequested)
        {
            return Task.FromCanceled<bool>(cancellation);
        }

        // Only metadata operations follow, and they have no asynchronous form.
        try
        {
            // Renaming first makes exactly one of several concurrent deletes see the record and report true.
            var temp = NewTempPath();
            if (!MoveAside(path, temp))
            {
                return Task.FromResult(false);
            }

            TryDelete(temp);
            return Task.FromResult(true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Task.FromException<bool>(e);
        }
    }

    private string RecordPath(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(key);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("A record key must be valid Unicode text (it contains a lone surrogate).", nameof(key), e);
        }

        return Path.Combine(_records, Convert.ToHexStringLower(SHA256.HashData(utf8)) + ".json");
    }

    private static byte[] RecordDocument(string key, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            // Checked here because the stores this interface will also get (Dapr state, Redis) expect JSON values.
            using var _ = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The value for record '{key}' is not JSON: {e.Message}", nameof(json), e);
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("key", key);
            // Kept as a string so the caller gets back exactly the text it stored.
            writer.WriteString("value", json);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string ReadRecordValue(string path, string key, byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("key", out var keyElement)
                && keyElement.ValueKind == JsonValueKind.String
                && root.TryGetProperty("value", out var valueElement)
                && valueElement.ValueKind == JsonValueKind.String)
            {
                return keyElement.GetString() == key
                    ? valueElement.GetString()!
                    : throw new InvalidDataException($"Record file {path} holds another key than '{key}'.");
            }
        }
        catch (JsonException)
        {
        }

        throw new InvalidDataException($"Record file {path} for key '{key}' is not a record document.");
    }
}
