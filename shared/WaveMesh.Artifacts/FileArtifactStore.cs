using System.Buffers;
using System.Collections.ObjectModel;
using System.Security.Cryptography;

namespace WaveMesh.Artifacts;

/// <summary>An <see cref="IArtifactStore"/> in a local folder that several processes may share.</summary>
/// <remarks>
/// Every file reaches its final name by an atomic rename from <c>tmp/</c>, so readers never see a partial object, info or record.
/// Layout: <c>objects/&lt;first two hex&gt;/&lt;digest&gt;</c> with <c>&lt;digest&gt;.json</c> (the info) beside it,
/// <c>records/&lt;sha256 of key&gt;.json</c>, <c>tmp/</c> and <c>corrupt/</c>.
/// An artifact exists only while both its object and its info are present; a crash between the two renames therefore
/// looks like a missing artifact, which the producing stage repairs by storing it again.
/// </remarks>
public sealed partial class FileArtifactStore : IArtifactStore, IRecordStore
{
    private const int ReadStreamBufferSize = 64 * 1024;
    private const int PlacementAttempts = 3;

    private readonly string _objects;
    private readonly string _records;
    private readonly string _tmp;
    private readonly string _corrupt;

    public FileArtifactStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _objects = Path.Combine(Root, "objects");
        _records = Path.Combine(Root, "records");
        _tmp = Path.Combine(Root, "tmp");
        _corrupt = Path.Combine(Root, "corrupt");
        Directory.CreateDirectory(_objects);
        Directory.CreateDirectory(_records);
        Directory.CreateDirectory(_tmp);
        Directory.CreateDirectory(_corrupt);
    }

    /// <summary>Absolute path of the store's folder.</summary>
    public string Root { get; }

    public async Task<ArtifactInfo> PutFileAsync(
        string path,
        string kind,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var checkedKind = CheckKind(kind);
        var checkedMetadata = CopyMetadata(metadata);
        cancellation.ThrowIfCancellationRequested();

        var source = ArtifactDigest.OpenForHashing(path, useAsync: true);
        await using (source.ConfigureAwait(false))
        {
            return await PutCoreAsync(source, checkedKind, checkedMetadata, cancellation).ConfigureAwait(false);
        }
    }

    public async Task<ArtifactInfo> PutAsync(
        Stream content,
        string kind,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var checkedKind = CheckKind(kind);
        var checkedMetadata = CopyMetadata(metadata);
        cancellation.ThrowIfCancellationRequested();
        return await PutCoreAsync(content, checkedKind, checkedMetadata, cancellation).ConfigureAwait(false);
    }

    public async Task<string> GetFileAsync(string digest, CancellationToken cancellation = default)
    {
        ArtifactDigest.Require(digest);
        cancellation.ThrowIfCancellationRequested();
        var info = await GetInfoAsync(digest, cancellation).ConfigureAwait(false)
            ?? throw new ArtifactNotFoundException(digest);

        var path = ObjectPath(digest);
        var (size, actual) = await MeasureAsync(path, info.Size, cancellation).ConfigureAwait(false);
        if (size == info.Size && actual == digest)
        {
            return path;
        }

        // Moving aside re-hashes the moved file; that is rare, and kept off the caller's thread.
        var error = await Task.Run(() => Quarantine(digest, info.Size, size, actual), CancellationToken.None).ConfigureAwait(false);
        return error is null ? path : throw error;
    }

    public async Task<Stream> OpenReadAsync(string digest, CancellationToken cancellation = default)
    {
        ArtifactDigest.Require(digest);
        cancellation.ThrowIfCancellationRequested();
        var info = await GetInfoAsync(digest, cancellation).ConfigureAwait(false)
            ?? throw new ArtifactNotFoundException(digest);

        FileStream stream;
        try
        {
            stream = new FileStream(ObjectPath(digest), new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                BufferSize = ReadStreamBufferSize,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            });
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(digest);
        }

        return new VerifyingReadStream(
            stream,
            digest,
            info.Size,
            (size, actual) => Quarantine(digest, info.Size, size, actual)
                // The copy now in place is healthy, but the bytes this reader saw were not: someone else moved them aside.
                ?? new ArtifactCorruptException(digest, info.Size, size, actual, _corrupt));
    }

    public async Task<ArtifactInfo?> GetInfoAsync(string digest, CancellationToken cancellation = default)
    {
        ArtifactDigest.Require(digest);
        cancellation.ThrowIfCancellationRequested();
        if (!File.Exists(ObjectPath(digest)))
        {
            return null;
        }

        var (info, _) = await ReadInfoFileAsync(digest, cancellation).ConfigureAwait(false);
        return info;
    }

    public async Task<bool> ExistsAsync(string digest, CancellationToken cancellation = default) =>
        await GetInfoAsync(digest, cancellation).ConfigureAwait(false) is not null;

    private static string CheckKind(string kind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        return kind;
    }

    private static ReadOnlyDictionary<string, string> CopyMetadata(IReadOnlyDictionary<string, string>? metadata)
    {
        // A private copy, so a caller changing its dictionary later cannot change what the store returns.
        var copy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in metadata ?? ReadOnlyDictionary<string, string>.Empty)
        {
            copy[pair.Key] = pair.Value
                ?? throw new ArgumentException($"Metadata '{pair.Key}' has no value; metadata values must be strings.", nameof(metadata));
        }

        return new ReadOnlyDictionary<string, string>(copy);
    }

    private static async Task<(long Size, string? Digest)> MeasureAsync(string path, long expectedSize, CancellationToken cancellation)
    {
        try
        {
            var stream = ArtifactDigest.OpenForHashing(path, useAsync: true);
            await using (stream.ConfigureAwait(false))
            {
                // A wrong length already proves damage (truncation is the common case); no need to read it all.
                var length = stream.Length;
                return length != expectedSize ? (length, null) : await ArtifactDigest.HashAsync(stream, cancellation).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(Path.GetFileName(path));
        }
    }

    private static (long Size, string? Digest) Measure(string path, long expectedSize)
    {
        using var stream = ArtifactDigest.OpenForHashing(path, useAsync: false);
        var length = stream.Length;
        return length != expectedSize ? (length, null) : (length, ArtifactDigest.Of(stream));
    }

    private async Task<ArtifactInfo> PutCoreAsync(
        Stream content,
        string kind,
        IReadOnlyDictionary<string, string> metadata,
        CancellationToken cancellation)
    {
        var temp = NewTempPath();
        try
        {
            var (size, digest) = await CopyToTempAsync(content, temp, cancellation).ConfigureAwait(false);
            cancellation.ThrowIfCancellationRequested();

            // The bytes are durable now; the remaining steps are a few small renames and are not cut short by cancellation,
            // so a put that got this far is either complete or (after a crash) simply absent.
            var info = await ClaimInfoAsync(new ArtifactInfo(digest, size, kind, metadata, DateTime.UtcNow)).ConfigureAwait(false);
            PlaceObject(temp, digest, size);
            if (!File.Exists(InfoPath(digest)))
            {
                // A reader that found an older, damaged copy may have moved the info aside between the two steps.
                info = await ClaimInfoAsync(info).ConfigureAwait(false);
            }

            return info;
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>One pass over the source; the temp file is forced to disk before it may be renamed onto a final name.</summary>
    private static async Task<(long Size, string Digest)> CopyToTempAsync(Stream content, string temp, CancellationToken cancellation)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ArtifactDigest.BufferSize);
        try
        {
            var output = CreateTempFile(temp);
            await using (output.ConfigureAwait(false))
            {
                long size = 0;
                int read;
                while ((read = await content.ReadAsync(buffer.AsMemory(0, ArtifactDigest.BufferSize), cancellation).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellation).ConfigureAwait(false);
                    size += read;
                }

                output.Flush(flushToDisk: true);
                return (size, ArtifactDigest.Finish(hash));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes the info unless a valid one is already there, and returns whichever info is stored: the first writer's
    /// kind and metadata win, also between processes, because the info is placed with a no-overwrite rename.
    /// </summary>
    private async Task<ArtifactInfo> ClaimInfoAsync(ArtifactInfo candidate)
    {
        var path = InfoPath(candidate.Digest);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        for (var attempt = 0; attempt < PlacementAttempts; attempt++)
        {
            var (existing, present) = await ReadInfoFileAsync(candidate.Digest, CancellationToken.None).ConfigureAwait(false);
            if (existing is not null && existing.Size == candidate.Size)
            {
                return existing;
            }

            // A present but unusable info file can only have been damaged from outside (our writes are atomic);
            // the bytes are what counts, so it is replaced.
            var bytes = ArtifactInfoJson.Write(candidate);
            if (await WriteSmallFileAsync(path, bytes, overwrite: present, CancellationToken.None).ConfigureAwait(false))
            {
                return candidate;
            }
        }

        throw new IOException($"Could not record the info of artifact {candidate.Digest}: its info file kept changing.");
    }

    private void PlaceObject(string temp, string digest, long size)
    {
        var target = ObjectPath(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        for (var attempt = 0; attempt < PlacementAttempts; attempt++)
        {
            if (Commit(temp, target, overwrite: false))
            {
                return;
            }

            long existingLength;
            try
            {
                existingLength = new FileInfo(target).Length;
            }
            catch (FileNotFoundException)
            {
                continue;
            }

            // Same digest means same bytes, unless the copy in place was damaged. Its length is a free check that
            // catches truncation; readers verify the rest, so a full re-hash here would only double the cost of every put.
            if (existingLength == size)
            {
                return;
            }

            MoveAside(target, Path.Combine(_corrupt, QuarantineName(digest)));
        }

        throw new IOException($"Could not store artifact {digest}: the object in place kept changing.");
    }

    /// <summary>
    /// Moves a damaged object and its info to <c>corrupt/</c>. Returns the exception to throw, or null when the file that
    /// was moved turned out to be healthy (a fresh copy replaced the damaged one after it was read); that copy is put back.
    /// </summary>
    private ArtifactCorruptException? Quarantine(string digest, long expectedSize, long observedSize, string? observedDigest)
    {
        var objectPath = ObjectPath(digest);
        var moved = Path.Combine(_corrupt, QuarantineName(digest));
        if (!MoveAside(objectPath, moved))
        {
            // Another reader got there first and has moved it (and its info) aside.
            return new ArtifactCorruptException(digest, expectedSize, observedSize, observedDigest, _corrupt);
        }

        // Judge the file actually moved, not the one read earlier: the name may point at a new file by now.
        var (size, found) = Measure(moved, expectedSize);
        if (size == expectedSize && found == digest)
        {
            if (!Commit(moved, objectPath, overwrite: false))
            {
                TryDelete(moved);
            }

            return null;
        }

        MoveAside(InfoPath(digest), moved + ".json");
        return new ArtifactCorruptException(digest, expectedSize, size, found, moved);
    }

    private static bool MoveAside(string path, string destination)
    {
        try
        {
            File.Move(path, destination, overwrite: false);
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    private static string QuarantineName(string digest) =>
        $"{digest}.{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.{Guid.NewGuid():N}";

    private async Task<(ArtifactInfo? Info, bool Present)> ReadInfoFileAsync(string digest, CancellationToken cancellation)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(InfoPath(digest), cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, false);
        }

        return (ArtifactInfoJson.TryRead(bytes, digest), true);
    }

    private string ObjectPath(string digest) => Path.Combine(_objects, digest[..2], digest);

    private string InfoPath(string digest) => ObjectPath(digest) + ".json";

    private string NewTempPath()
    {
        // Recreated on demand so that someone emptying tmp/ by deleting the folder does not break the store.
        Directory.CreateDirectory(_tmp);
        return Path.Combine(_tmp, $"{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
    }

    private static FileStream CreateTempFile(string path) =>
        new(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            Options = FileOptions.Asynchronous,
        });

    /// <summary>Writes a small file atomically. Without overwrite, returns false when the target already exists.</summary>
    private async Task<bool> WriteSmallFileAsync(string target, byte[] bytes, bool overwrite, CancellationToken cancellation)
    {
        var temp = NewTempPath();
        try
        {
            var stream = CreateTempFile(temp);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(bytes, cancellation).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            cancellation.ThrowIfCancellationRequested();
            return Commit(temp, target, overwrite);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>
    /// Renames <paramref name="temp"/> to <paramref name="target"/>. Without overwrite the rename refuses to replace an
    /// existing file, atomically across processes, and false means the target already existed.
    /// </summary>
    private static bool Commit(string temp, string target, bool overwrite)
    {
        if (!overwrite)
        {
            return NoReplaceRename.TryMove(temp, target);
        }

        File.Move(temp, target, overwrite: true);
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Only a leftover in tmp/; it never has a final name, so it cannot be mistaken for data.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
