namespace WaveMesh.Data;

/// <summary>
/// A dataset file or folder does not exist. The message is one line: what is missing and how to fix it.
/// </summary>
public sealed class DatasetNotFoundException : Exception
{
    public DatasetNotFoundException(string message) : base(message) { }

    public DatasetNotFoundException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The file or folder that was looked for, when known.</summary>
    public string? MissingPath { get; init; }
}

/// <summary>
/// A dataset file exists but its content is corrupt or inconsistent (bad magic, truncated,
/// dimensions that do not match the length, labels out of range, image/label count mismatch).
/// The message is one line naming the file and the problem.
/// </summary>
public sealed class DatasetFormatException : Exception
{
    public DatasetFormatException(string message) : base(message) { }

    public DatasetFormatException(string message, Exception innerException) : base(message, innerException) { }
}
