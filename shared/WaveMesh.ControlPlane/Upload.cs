using System.Security.Cryptography;

namespace WaveMesh.ControlPlane;

/// <summary>A request body received into a local file: streamed, size-limited, and checked against the SHA-256 the client claims.</summary>
static class Upload
{
    /// <summary>
    /// Streams <paramref name="body"/> to a new file under the upload directory and returns its path; the caller deletes
    /// it. More than <see cref="ControlOptions.MaxUploadBytes"/> is a 413, a digest other than <paramref name="claimedSha256"/>
    /// a 400; on any failure nothing is left behind.
    /// </summary>
    public static async Task<string> ReceiveAsync(Stream body, long? length, string? claimedSha256, ControlOptions o, string extension, CancellationToken ct)
    {
        if (length > o.MaxUploadBytes) throw new ControlException(413, $"upload of {length} bytes exceeds the limit of {o.MaxUploadBytes}");
        Directory.CreateDirectory(o.UploadDirectory);
        var temp = Path.Combine(o.UploadDirectory, $"{Guid.NewGuid():N}{extension}");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    total += n;
                    if (total > o.MaxUploadBytes) throw new ControlException(413, $"upload exceeds the limit of {o.MaxUploadBytes} bytes");
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                }
            }
            var digest = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (claimedSha256 is not null && !string.Equals(claimedSha256.Trim(), digest, StringComparison.OrdinalIgnoreCase))
                throw new ControlException(400, $"upload corrupted in transit: its SHA-256 is {digest}, the client said {claimedSha256}");
            if (total == 0) throw new ControlException(400, "the upload is empty");
            return temp;
        }
        catch
        {
            if (File.Exists(temp)) File.Delete(temp);
            throw;
        }
    }
}
