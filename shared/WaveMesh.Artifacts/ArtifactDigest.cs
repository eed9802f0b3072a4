using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace WaveMesh.Artifacts;

/// <summary>Artifact digests: the SHA-256 of the bytes written as 64 lower-case hexadecimal characters.</summary>
public static class ArtifactDigest
{
    /// <summary>Number of characters in a digest.</summary>
    public const int Length = 64;

    internal const int BufferSize = 1024 * 1024;

    /// <summary>
    /// Whether <paramref name="digest"/> is exactly 64 lower-case hex characters. Only such strings are ever turned into
    /// paths, which is what keeps "../" and friends out of the store.
    /// </summary>
    public static bool IsValid([NotNullWhen(true)] string? digest)
    {
        if (digest is null || digest.Length != Length)
        {
            return false;
        }

        foreach (var c in digest)
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The digest of everything from the stream's current position to its end.</summary>
    public static string Of(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            int read;
            while ((read = stream.Read(buffer, 0, BufferSize)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Finish(hash);
    }

    /// <summary>The digest of a file's bytes.</summary>
    public static string OfFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = OpenForHashing(path, useAsync: false);
        return Of(stream);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="digest"/> is valid.</summary>
    internal static string Require([NotNull] string? digest, [CallerArgumentExpression(nameof(digest))] string? parameter = null)
    {
        if (!IsValid(digest))
        {
            var shown = digest is null ? "null" : $"'{(digest.Length > 80 ? digest[..80] + "..." : digest)}'";
            throw new ArgumentException($"{shown} is not an artifact digest (64 lower-case hex characters).", parameter);
        }

        return digest;
    }

    internal static string Finish(IncrementalHash hash) => Convert.ToHexStringLower(hash.GetHashAndReset());

    internal static FileStream OpenForHashing(string path, bool useAsync) =>
        new(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            // Delete lets a corrupt object be moved aside while someone still reads it.
            Share = FileShare.Read | FileShare.Delete,
            BufferSize = 0,
            Options = FileOptions.SequentialScan | (useAsync ? FileOptions.Asynchronous : FileOptions.None),
        });

    /// <summary>Size and digest of a file read in one pass.</summary>
    internal static async Task<(long Size, string Digest)> HashAsync(FileStream stream, CancellationToken cancellation)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long size = 0;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, BufferSize), cancellation).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                size += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (size, Finish(hash));
    }
}
