using System.Security.Cryptography;

namespace WaveMesh.Artifacts;

/// <summary>A forward-only read stream that hashes what passes through and judges the whole when the end is reached.</summary>
internal sealed class VerifyingReadStream : Stream
{
    private readonly FileStream _inner;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly string _digest;
    private readonly long _expectedSize;
    private readonly Func<long, string, ArtifactCorruptException> _onMismatch;
    private long _bytesRead;
    private bool _ended;
    private bool _disposed;
    private ArtifactCorruptException? _failure;

    /// <param name="onMismatch">Deals with the damaged object (given the size and hash seen) and makes the exception to throw.</param>
    public VerifyingReadStream(FileStream inner, string digest, long expectedSize, Func<long, string, ArtifactCorruptException> onMismatch)
    {
        _inner = inner;
        _digest = digest;
        _expectedSize = expectedSize;
        _onMismatch = onMismatch;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException("An artifact read stream cannot seek.");

    public override long Position
    {
        get => throw new NotSupportedException("An artifact read stream cannot seek.");
        set => throw new NotSupportedException("An artifact read stream cannot seek.");
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ThrowIfFailedOrDisposed();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var read = _inner.Read(buffer);
        if (read > 0)
        {
            Append(buffer[..read]);
        }
        else if (EndsWithMismatch(out var actual))
        {
            _failure = _onMismatch(_bytesRead, actual);
            throw _failure;
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfFailedOrDisposed();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
        {
            Append(buffer.Span[..read]);
        }
        else if (EndsWithMismatch(out var actual))
        {
            // Moving the object aside may re-hash it; keep that off the caller's thread.
            var bytesRead = _bytesRead;
            _failure = await Task.Run(() => _onMismatch(bytesRead, actual), CancellationToken.None).ConfigureAwait(false);
            throw _failure;
        }

        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("An artifact read stream cannot seek.");

    public override void SetLength(long value) => throw new NotSupportedException("An artifact read stream is read-only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("An artifact read stream is read-only.");

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _inner.Dispose();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        _hash.AppendData(data);
        _bytesRead += data.Length;
    }

    private bool EndsWithMismatch(out string actual)
    {
        if (_ended)
        {
            actual = string.Empty;
            return false;
        }

        _ended = true;
        actual = ArtifactDigest.Finish(_hash);
        return _bytesRead != _expectedSize || actual != _digest;
    }

    private void ThrowIfFailedOrDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is not null)
        {
            throw _failure;
        }
    }
}
