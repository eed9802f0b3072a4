using System.Diagnostics;
using WaveMesh.Testing;

namespace WaveMesh.Cli.Tests;

/// <summary>What one invocation of the tool did.</summary>
sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the real <c>wavemesh</c> tool (<c>dotnet wavemesh.dll ...</c>) built in the same configuration as these tests.</summary>
static class Cli
{
    /// <summary>The tool built in the same configuration as these tests.</summary>
    public static string Dll => ServeProcess.Dll;

    public static async Task<CliResult> RunAsync(string workingDirectory, params string[] args)
    {
        Assert.True(File.Exists(Dll), $"the tool is not built: {Dll}");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("WAVEMESH_DEBUG");

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        try
        {
            await process.WaitForExitAsync(guard.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"wavemesh {string.Join(' ', args)} did not end");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A fresh folder per test, removed afterwards.</summary>
sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "wavemesh-cli-tests", Guid.NewGuid().ToString("N"));

    public string PathOf(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Write(string name, string text)
    {
        var path = PathOf(name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
