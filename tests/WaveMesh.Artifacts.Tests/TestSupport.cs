using System.Security.Cryptography;

namespace WaveMesh.Artifacts.Tests;

/// <summary>A fresh folder under the temp directory holding one store, deleted afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        FolderPath = Path.Combine(Path.GetTempPath(), "wavemesh-artifacts-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(FolderPath);
        StoreRoot = Path.Combine(FolderPath, "store");
    }

    public string FolderPath { get; }

    /// <summary>Where the stores of a test live; kept one level down so files escaping it would be visible.</summary>
    public string StoreRoot { get; }

    /// <summary>A new store instance on the shared folder, as another process would open it.</summary>
    public FileArtifactStore Store() => new(StoreRoot);

    public string Write(string fileName, byte[] bytes)
    {
        var path = Path.Combine(FolderPath, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Paths of all files below the store root, relative and with '/' separators, sorted.</summary>
    public string[] StoreFiles(string under = "") =>
        Directory.GetFiles(Path.Combine(StoreRoot, under), "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(StoreRoot, path).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>Object files (bytes, not info) below objects/.</summary>
    public string[] ObjectFiles() => StoreFiles("objects").Where(path => !path.EndsWith(".json", StringComparison.Ordinal)).ToArray();

    public string ObjectPath(string digest) => Path.Combine(StoreRoot, "objects", digest[..2], digest);

    public void Dispose()
    {
        try
        {
            Directory.Delete(FolderPath, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class TestData
{
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The expected digest, computed without the library.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static Dictionary<string, string> Metadata(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(pair => pair.Key, pair => pair.Value);

    public static (string, string)[] Sorted(IReadOnlyDictionary<string, string> metadata) =>
        metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => (pair.Key, pair.Value)).ToArray();

    public static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}

/// <summary>
/// Serves bytes in pieces of at most <paramref name="pieceSize"/> and, once <paramref name="stopAfter"/> bytes have been
/// served, calls <paramref name="onStop"/>: by default it then fails like a broken network stream.
/// </summary>
internal sealed class ScriptedStream(byte[] bytes, int pieceSize, long stopAfter = long.MaxValue, Action? onStop = null) : Stream
{
    private long _position;
    private bool _stopped;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= stopAfter && !_stopped)
        {
            _stopped = true;
            if (onStop is null)
            {
                throw new IOException("source broke");
            }

            onStop();
        }

        var count = (int)Math.Min(Math.Min(buffer.Length, pieceSize), bytes.Length - _position);
        bytes.AsSpan((int)_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
