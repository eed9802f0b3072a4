namespace WaveMesh.Dashboard.Tests;

/// <summary>Where screenshots go: the test output (artifacts/), the project's TestResults/, and docs/images/ on request.</summary>
public static class Screenshots
{
    public const string UpdateVariable = "WAVEMESH_UPDATE_SCREENSHOT";

    public static string ArtifactsDirectory => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;

    /// <summary>Copies a screenshot taken into <see cref="ArtifactsDirectory"/> to TestResults/ and, with WAVEMESH_UPDATE_SCREENSHOT=1, to docs/images/.</summary>
    public static IReadOnlyList<string> Publish(string file, bool toDocs = true)
    {
        var written = new List<string> { file };
        var name = Path.GetFileName(file);
        if (Find("WaveMesh.Dashboard.Tests.csproj") is { } project)
        {
            var results = Directory.CreateDirectory(Path.Combine(project, "TestResults")).FullName;
            File.Copy(file, Path.Combine(results, name), overwrite: true);
            written.Add(Path.Combine(results, name));
        }
        if (toDocs && Environment.GetEnvironmentVariable(UpdateVariable) == "1" && Find("WaveMesh.sln") is { } root)
        {
            var docs = Directory.CreateDirectory(Path.Combine(root, "docs", "images")).FullName;
            File.Copy(file, Path.Combine(docs, name), overwrite: true);
            written.Add(Path.Combine(docs, name));
        }
        return written;
    }

    /// <summary>The nearest folder above the test's output that holds <paramref name="marker"/>.</summary>
    static string? Find(string marker)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, marker))) return dir.FullName;
        return null;
    }
}
