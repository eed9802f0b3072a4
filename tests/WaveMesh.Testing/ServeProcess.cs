using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace WaveMesh.Testing;

/// <summary>
/// <c>wavemesh serve</c> as a user runs it: <c>dotnet wavemesh.dll serve</c> in a process of its own (the tool built in
/// the same configuration as the tests), its output kept, started on a store and port, stopped with SIGTERM.
/// </summary>
public sealed class ServeProcess : IDisposable
{
    const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Signal(int pid, int signal);

    readonly Process process;
    readonly StringBuilder log;

    ServeProcess(Process process, StringBuilder log, HttpClient http)
    {
        this.process = process;
        this.log = log;
        Http = http;
    }

    /// <summary>The API, dashboard and health endpoints (no token set on it).</summary>
    public HttpClient Http { get; }

    public Uri BaseAddress => Http.BaseAddress!;

    public int ExitCode => process.ExitCode;

    /// <summary>Everything the process printed so far.</summary>
    public string Log { get { lock (log) return log.ToString(); } }

    /// <summary>The tool, built in the same configuration (Debug or Release) as the tests (this assembly is built with them).</summary>
    public static string Dll { get; } = Path.Combine(RepositoryRoot(), "tools", "WaveMesh.Cli", "bin",
        typeof(ServeProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BuildConfiguration").Value!,
        "net10.0", "wavemesh.dll");

    /// <summary>The folder holding WaveMesh.sln, above the test's bin folder.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "WaveMesh.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no WaveMesh.sln above {AppContext.BaseDirectory}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts <c>wavemesh serve --store STORE --port PORT --threads 1</c> and waits until it is ready (its ledger loaded).</summary>
    public static async Task<ServeProcess> StartAsync(string store, int port, string? token = null, params string[] extra)
    {
        Assert.True(File.Exists(Dll), $"the tool is not built: {Dll}");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(store))!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Dll, "serve", "--store", store, "--port", port.ToString(), "--threads", "1" }.Concat(extra))
            start.ArgumentList.Add(a);
        start.Environment.Remove("WAVEMESH_TOKEN");
        if (token is not null) start.Environment["WAVEMESH_TOKEN"] = token;
        var log = new StringBuilder();
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine("stderr: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var served = new ServeProcess(process, log, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) });
        try
        {
            await Readiness.WaitUntilHealthyAsync(served.Http, TimeSpan.FromMinutes(2));
        }
        catch
        {
            served.Dispose();
            throw;
        }
        return served;
    }

    /// <summary>SIGTERM (what a service manager sends; Ctrl-C works alike), then waits up to 30 s for the process to end.</summary>
    public void Stop()
    {
        if (process.HasExited) return;
        Assert.Equal(0, Signal(process.Id, SigTerm));
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "wavemesh serve did not stop within 30 s of SIGTERM");
        process.WaitForExit();
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        process.Dispose();
        Http.Dispose();
    }
}
