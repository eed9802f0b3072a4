namespace WaveMesh.Safetensors;

/// <summary>
/// A safetensors file is malformed, or ends before a tensor could be read.
/// The message is a single line naming the problem, the tensor where relevant, and the file when known.
/// </summary>
public sealed class SafetensorsFormatException : Exception
{
    public SafetensorsFormatException()
        : base("Invalid safetensors file.")
    {
    }

    public SafetensorsFormatException(string message)
        : base(message)
    {
    }

    public SafetensorsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception from a problem description, adding the tensor and file to the message.</summary>
    public SafetensorsFormatException(string problem, string? filePath, string? tensorName, Exception? innerException = null)
        : base(Compose(problem, filePath), innerException)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file that was being read, when known.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor the problem concerns, when there is one.</summary>
    public string? TensorName { get; }

    private static string Compose(string problem, string? filePath)
    {
        var line = OneLine(problem);
        return filePath is null
            ? $"Invalid safetensors data: {line}"
            : $"Invalid safetensors file '{OneLine(filePath)}': {line}";
    }

    internal static string OneLine(string text)
    {
        if (text.AsSpan().IndexOfAny('\r', '\n') < 0)
        {
            return text;
        }

        return text.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\r', ' ').Replace('\n', ' ');
    }

    /// <summary>Quotes a tensor name for a message: control characters escaped, very long names shortened.</summary>
    internal static string Quote(string name)
    {
        const int MaxShown = 200;
        var builder = new System.Text.StringBuilder(Math.Min(name.Length, MaxShown) + 8);
        builder.Append('\'');
        var shown = Math.Min(name.Length, MaxShown);
        for (var i = 0; i < shown; i++)
        {
            var c = name[i];
            if (char.IsControl(c))
            {
                builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        if (name.Length > MaxShown)
        {
            builder.Append("...");
        }

        builder.Append('\'');
        return builder.ToString();
    }
}
