using System.Xml.Linq;

namespace WaveMesh.Deployment.Tests;

/// <summary>
/// The control service trains nothing: no project it builds from may pull in TorchSharp or libtorch (projects that run
/// tensors say so with WaveMeshUsesTorch, which Directory.Build.targets turns into the TorchSharp packages).
/// </summary>
public sealed class Keeping_the_control_plane_torch_free
{
    /// <summary>Every project <paramref name="project"/> references, directly or not, itself included.</summary>
    static IReadOnlyList<string> Closure(string project)
    {
        var seen = new List<string>();
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.Count > 0)
        {
            var path = pending.Pop();
            if (seen.Contains(path)) continue;
            seen.Add(path);
            foreach (var reference in XDocument.Load(path).Descendants("ProjectReference"))
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, reference.Attribute("Include")!.Value.Replace('\\', '/'))));
        }
        return seen;
    }

    static bool UsesTorch(string project)
    {
        var doc = XDocument.Load(project);
        return doc.Descendants("WaveMeshUsesTorch").Any(e => e.Value.Trim() == "true")
               || doc.Descendants("PackageReference").Any(e => (e.Attribute("Include")?.Value ?? "").StartsWith("TorchSharp", StringComparison.Ordinal)
                                                            || (e.Attribute("Include")?.Value ?? "").StartsWith("libtorch", StringComparison.Ordinal));
    }

    [Fact]
    public void The_control_service_builds_from_no_project_that_uses_torch()
    {
        var closure = Closure(Repo.PathOf("services", "Control", "WaveMesh.Control.csproj"));

        Assert.Contains(closure, p => p.EndsWith("WaveMesh.ControlPlane.csproj", StringComparison.Ordinal));
        Assert.Empty(closure.Where(UsesTorch).Select(p => Path.GetRelativePath(Repo.Root, p)));
        Assert.DoesNotContain(closure, p => p.EndsWith("WaveMesh.Engine.csproj", StringComparison.Ordinal) || p.EndsWith("WaveMesh.Stages.csproj", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Distiller")]
    [InlineData("ScalerTrainer")]
    [InlineData("Finetuner")]
    [InlineData("Evaluator")]
    public void Every_stage_service_reaches_the_engine(string folder)
    {
        var closure = Closure(Repo.PathOf("services", folder, $"WaveMesh.{folder}.csproj"));

        Assert.Contains(closure, UsesTorch);
    }

    [Theory]
    [InlineData("WaveMesh.Transport.Dapr")]
    [InlineData("WaveMesh.Transport.MassTransit")]
    [InlineData("WaveMesh.Workers")]
    [InlineData("WaveMesh.Hosting")]
    [InlineData("WaveMesh.Models")]
    public void Transports_workers_and_hosting_are_torch_free(string name)
    {
        var closure = Closure(Repo.PathOf("shared", name, $"{name}.csproj"));

        Assert.DoesNotContain(closure, UsesTorch);
    }
}
