using WaveMesh.Data;
using WaveMesh.Engine.Training;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Safetensors;

namespace WaveMesh.Cli;

/// <summary>Turns the failures a user can cause or fix into one line on stderr and an exit status; never a stack trace.</summary>
static class CliErrors
{
    public const int UserError = 1;
    public const int Cancelled = 130;
    public const int InternalError = 70;

    public static int Report(Exception e)
    {
        var (message, status) = Describe(e);
        Console.Error.WriteLine($"wavemesh: error: {message}");
        if (status == InternalError && Environment.GetEnvironmentVariable("WAVEMESH_DEBUG") == "1")
            Console.Error.WriteLine(e);
        else if (status == InternalError)
            Console.Error.WriteLine("wavemesh: this is a bug; rerun with WAVEMESH_DEBUG=1 for details and report it");
        return status;
    }

    static (string, int) Describe(Exception e) => e switch
    {
        OperationCanceledException => ("cancelled; finished artifacts are kept and the next run resumes from them", Cancelled),
        SafetensorsFormatException or CheckpointMismatchException or SpecException or DatasetNotFoundException
            or DatasetFormatException or TrainingDivergedException or CliUsageException or ConfigException
            or Benchmarks.BenchmarkNotStoredException => (OneLine(e.Message), UserError),
        Artifacts.ArtifactCorruptException or Artifacts.ArtifactNotFoundException => (OneLine(e.Message), UserError),
        FileNotFoundException f => ($"file not found: {f.FileName ?? OneLine(f.Message)}", UserError),
        DirectoryNotFoundException d => (OneLine(d.Message), UserError),
        UnauthorizedAccessException u => ($"permission denied: {OneLine(u.Message)}", UserError),
        IOException io when IsDiskFull(io) => ($"disk full: {OneLine(io.Message)}; no finished artifact was damaged", UserError),
        IOException io => (OneLine(io.Message), UserError),
        ArgumentException a => (OneLine(a.Message), UserError),
        _ => ($"unexpected {e.GetType().Name}: {OneLine(e.Message)}", InternalError),
    };

    static bool IsDiskFull(IOException e) => (e.HResult & 0xFFFF) == 28 || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

    static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}

/// <summary>A command-line mistake the parser cannot see (contradicting options, a bad combination).</summary>
sealed class CliUsageException(string message) : Exception(message);
