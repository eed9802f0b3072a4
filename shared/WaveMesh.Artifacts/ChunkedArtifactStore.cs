using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Artifacts;

/// <summary>
/// Artifacts in a shared key/value store (a Dapr state store, Redis). The bytes are cut into chunks no larger than
/// <paramref name="chunkBytes"/>,
/// written under a fresh upload id while they are hashed; then a manifest (digest, size, kind, metadata, the chunks
/// and their own SHA-256) is written under the digest with first-write-wins, so concurrent writers of one artifact
/// cannot corrupt it and a loser just deletes its chunks. Reads stream chunk by chunk into a local file, checking
/// every chunk and the whole digest. Only one chunk is ever in memory.
/// </summary>
public sealed class ChunkedArtifactStore(IKeyValueStore kv, int chunkBytes, string cacheDirectory) : IArtifactStore, IRecordStore
{
    readonly int chunkSize = Math.Min(chunkBytes, kv.MaxValueBytes);
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    sealed record Chunk(string Key, string Sha256, int Size);
    /// <summary>
    /// What the manifest key holds. When the chunk list would make it larger than one value may be, the list is cut into
    /// pages stored under their own keys (<see cref="ChunkLists"/>) and <see cref="Chunks"/> is empty as stored.
    /// </summary>
    sealed record Manifest(string Digest, long Size, string Kind, Dictionary<string, string> Metadata, DateTime CreatedAt, int ChunkBytes, List<Chunk> Chunks,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] List<string>? ChunkLists = null);

    static string ManifestKey(string digest) => $"artifact/{digest}";
    static string RecordKey(string key) => $"record/{key}";
    /// <summary>What was wrong with a damaged artifact whose manifest was removed, so later readers learn why it is gone.</summary>
    static string DamageKey(string digest) => $"damaged/{digest}";

    public async Task<ArtifactInfo> PutFileAsync(string path, string kind, IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellation = default)
    {
        // Hashing the local file first avoids uploading what the store already holds.
        var digest = ArtifactDigest.OfFile(path);
        if (await ReadManifest(digest, cancellation) is { } existing) return Info(existing);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return await PutAsync(stream, kind, metadata, cancellation);
    }

    public async Task<ArtifactInfo> PutAsync(Stream content, string kind, IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        var upload = Guid.NewGuid().ToString("N");
        var chunks = new List<Chunk>();
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        long size = 0;
        try
        {
            while (true)
            {
                int filled = 0;
                while (filled < chunkSize)
                {
                    int n = await content.ReadAsync(buffer.AsMemory(filled, chunkSize - filled), cancellation);
                    if (n == 0) break;
                    filled += n;
                }
                if (filled == 0 && chunks.Count > 0) break;
                var bytes = buffer.AsMemory(0, filled);
                whole.AppendData(bytes.Span);
                var key = $"chunk/{upload}/{chunks.Count}";
                await kv.SetAsync(key, bytes, cancellation);
                chunks.Add(new Chunk(key, Convert.ToHexStringLower(SHA256.HashData(bytes.Span)), filled));
                size += filled;
                if (filled < chunkSize) break;
            }
        }
        catch
        {
            await DeleteChunks(chunks);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var digest = Convert.ToHexStringLower(whole.GetHashAndReset());
        var manifest = new Manifest(digest, size, kind, new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()),
            DateTime.UtcNow, chunkSize, chunks);
        var (stored, pages) = await Stored(manifest, upload, cancellation);
        if (await TryCreate(ManifestKey(digest), stored, cancellation))
        {
            await kv.DeleteAsync(DamageKey(digest), null, cancellation);   // stored whole again: the old damage is history
            return Info(manifest);
        }
        // Someone stored the same content first: theirs stands, ours is removed.
        await DeleteChunks(chunks);
        await DeleteKeys(pages);
        return Info(await ReadManifest(digest, cancellation) ?? manifest);
    }

    public async Task<string> GetFileAsync(string digest, CancellationToken cancellation = default)
    {
        Check(digest);
        var manifest = await ReadManifest(digest, cancellation, withChunks: true);
        if (manifest is null)
        {
            if (await kv.GetAsync(DamageKey(digest), cancellation) is { } damage)
                throw new ArtifactCorruptException(digest, $"{Encoding.UTF8.GetString(damage.Span)} (found earlier; the artifact is gone until the stage that produced it runs again)");
            throw new ArtifactNotFoundException(digest);
        }
        Directory.CreateDirectory(cacheDirectory);
        var cached = Path.Combine(cacheDirectory, digest);
        if (File.Exists(cached))
        {
            if (ArtifactDigest.OfFile(cached) == digest) return cached;
            File.Delete(cached);
        }
        var temp = Path.Combine(cacheDirectory, $".{digest}.{Guid.NewGuid():N}.tmp");
        try
        {
            using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                for (int i = 0; i < manifest.Chunks.Count; i++)
                {
                    var chunk = manifest.Chunks[i];
                    var bytes = await kv.GetAsync(chunk.Key, cancellation) ?? ReadOnlyMemory<byte>.Empty;
                    if (bytes.Length != chunk.Size || Convert.ToHexStringLower(SHA256.HashData(bytes.Span)) != chunk.Sha256)
                        await Corrupt(manifest, $"chunk {i + 1} of {manifest.Chunks.Count} ({chunk.Key}) is damaged: {bytes.Length} bytes, expected {chunk.Size} with SHA-256 {chunk.Sha256[..12]}...");
                    whole.AppendData(bytes.Span);
                    size += bytes.Length;
                    await file.WriteAsync(bytes, cancellation);
                }
                await file.FlushAsync(cancellation);
            }
            var actual = Convert.ToHexStringLower(whole.GetHashAndReset());
            if (actual != digest || size != manifest.Size)
                await Corrupt(manifest, $"its chunks hash to {actual[..12]}... ({size} bytes), not to the digest");
            File.Move(temp, cached, overwrite: true);
            return cached;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Removes the manifest of a damaged artifact so its producing stage runs again, then reports it.</summary>
    async Task Corrupt(Manifest manifest, string what)
    {
        await kv.SetAsync(DamageKey(manifest.Digest), Encoding.UTF8.GetBytes($"in the shared store, {what}"));
        await kv.DeleteAsync(ManifestKey(manifest.Digest));
        throw new ArtifactCorruptException(manifest.Digest, $"in the shared store, {what}; its manifest was removed so the stage that produced it can run again.");
    }

    public async Task<Stream> OpenReadAsync(string digest, CancellationToken cancellation = default) =>
        new FileStream(await GetFileAsync(digest, cancellation), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);

    public async Task<ArtifactInfo?> GetInfoAsync(string digest, CancellationToken cancellation = default)
    {
        Check(digest);
        return await ReadManifest(digest, cancellation) is { } m ? Info(m) : null;
    }

    public async Task<bool> ExistsAsync(string digest, CancellationToken cancellation = default) =>
        await GetInfoAsync(digest, cancellation) is not null;

    public async Task<bool> TryAddRecordAsync(string key, string json, CancellationToken cancellation = default) =>
        await TryCreate(RecordKey(key), Encoding.UTF8.GetBytes(json), cancellation);

    public Task SetRecordAsync(string key, string json, CancellationToken cancellation = default) =>
        kv.SetAsync(RecordKey(key), Encoding.UTF8.GetBytes(json), cancellation);

    public async Task<string?> GetRecordAsync(string key, CancellationToken cancellation = default) =>
        await kv.GetAsync(RecordKey(key), cancellation) is { } bytes ? Encoding.UTF8.GetString(bytes.Span) : null;

    public Task<bool> DeleteRecordAsync(string key, CancellationToken cancellation = default) => kv.DeleteAsync(RecordKey(key), null, cancellation);

    Task<bool> TryCreate(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation) => kv.TryCreateAsync(key, value, cancellation);

    /// <summary>
    /// The manifest's bytes as the manifest key holds them: the whole manifest when it fits one value, else the manifest
    /// with its chunk list in pages (each within one value) written first under <c>chunklist/{upload}/{n}</c>.
    /// </summary>
    async Task<(byte[] Bytes, List<string> Pages)> Stored(Manifest manifest, string upload, CancellationToken cancellation)
    {
        var whole = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        if (whole.Length <= kv.MaxValueBytes) return (whole, []);
        var pages = new List<string>();
        var page = new List<Chunk>();
        int pageBytes = 2;   // [ ]
        async Task Flush()
        {
            var key = $"chunklist/{upload}/{pages.Count}";
            await kv.SetAsync(key, JsonSerializer.SerializeToUtf8Bytes(page, Json), cancellation);
            pages.Add(key);
            page = [];
            pageBytes = 2;
        }
        try
        {
            foreach (var chunk in manifest.Chunks)
            {
                int bytes = JsonSerializer.SerializeToUtf8Bytes(chunk, Json).Length + 1;   // and its comma
                if (page.Count > 0 && pageBytes + bytes > kv.MaxValueBytes) await Flush();
                page.Add(chunk);
                pageBytes += bytes;
            }
            await Flush();
            var paged = JsonSerializer.SerializeToUtf8Bytes(manifest with { Chunks = [], ChunkLists = pages }, Json);
            if (paged.Length > kv.MaxValueBytes)
                throw new InvalidOperationException($"artifact {manifest.Digest} needs {pages.Count} chunk-list pages, more than one manifest of {kv.MaxValueBytes} bytes can name");
            return (paged, pages);
        }
        catch
        {
            await DeleteKeys(pages);
            throw;
        }
    }

    /// <summary>The manifest; its chunk list is read from its pages only when <paramref name="withChunks"/> (to read the bytes).</summary>
    async Task<Manifest?> ReadManifest(string digest, CancellationToken cancellation, bool withChunks = false)
    {
        if (await kv.GetAsync(ManifestKey(digest), cancellation) is not { } bytes) return null;
        var manifest = JsonSerializer.Deserialize<Manifest>(bytes.Span, Json)!;
        if (!withChunks || manifest.ChunkLists is not { Count: > 0 } pages) return manifest;
        var chunks = new List<Chunk>();
        foreach (var page in pages)
        {
            // A lost page leaves the list short: the read that follows finds the size and digest wrong and reports it.
            if (await kv.GetAsync(page, cancellation) is { } list) chunks.AddRange(JsonSerializer.Deserialize<List<Chunk>>(list.Span, Json)!);
        }
        return manifest with { Chunks = chunks };
    }

    Task DeleteChunks(IEnumerable<Chunk> chunks) => DeleteKeys(chunks.Select(c => c.Key));

    async Task DeleteKeys(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            try { await kv.DeleteAsync(key); }
            catch (Exception e) when (e is not OperationCanceledException) { /* an orphan chunk wastes space but harms nothing */ }
        }
    }

    static ArtifactInfo Info(Manifest m) => new(m.Digest, m.Size, m.Kind, m.Metadata, m.CreatedAt);

    static void Check(string digest)
    {
        if (!ArtifactDigest.IsValid(digest)) throw new ArgumentException($"'{digest}' is not a SHA-256 digest", nameof(digest));
    }
}
