using System.Text.RegularExpressions;

namespace WaveMesh.Deployment.Tests;

public sealed class Building_images
{
    /// <summary>The Dockerfile compose builds an app from: the control service's own, or the one worker recipe.</summary>
    static string DockerfileOf(string appId) =>
        appId == "control" ? Repo.PathOf("services", "Control", "Dockerfile") : Repo.PathOf("services", "Worker.Dockerfile");

    [Fact]
    public void The_control_image_publishes_the_control_project()
    {
        var build = ComposeFile.Main.Service("control").Map("build")!;
        Assert.Equal(Repo.Root, Path.GetFullPath(Path.Combine(Repo.Root, build.Str("context") ?? ".")));
        Assert.Equal(DockerfileOf("control"), Path.GetFullPath(Path.Combine(Repo.Root, build.Str("dockerfile")!)));
        var text = File.ReadAllText(DockerfileOf("control"));
        var publish = Assert.Single(Regex.Matches(text, @"dotnet publish (\S+)"));
        Assert.Equal("services/Control/WaveMesh.Control.csproj", publish.Groups[1].Value);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"WaveMesh.Control.dll\"]", text);
    }

    [Theory]
    [MemberData(nameof(Apps.Gpu), MemberType = typeof(Apps))]
    public void Every_stage_service_builds_from_the_one_worker_dockerfile_with_its_folder_as_SERVICE(string appId)
    {
        var build = ComposeFile.Main.Service(appId).Map("build")!;
        var folder = Apps.Folders[appId];

        Assert.Equal(Repo.Root, Path.GetFullPath(Path.Combine(Repo.Root, build.Str("context") ?? ".")));
        Assert.Equal(DockerfileOf(appId), Path.GetFullPath(Path.Combine(Repo.Root, build.Str("dockerfile")!)));
        Assert.Equal(folder, build.StrAt("args", "SERVICE"));
        // What the recipe publishes and starts, with SERVICE substituted as docker does.
        var text = File.ReadAllText(DockerfileOf(appId));
        var publish = Assert.Single(Regex.Matches(text, @"dotnet publish (\S+)")).Groups[1].Value.Replace("${SERVICE}", folder);
        Assert.Equal($"services/{folder}/WaveMesh.{folder}.csproj", publish);
        Assert.True(File.Exists(Path.Combine(Repo.Root, publish)), $"{publish} is missing");
        Assert.True(File.Exists(Repo.PathOf("services", folder, "Program.cs")));
        Assert.Contains("-p:WaveMeshTorchBackend=$TORCH_BACKEND", text);
        Assert.Matches(@"(?m)^ARG TORCH_BACKEND=(cpu|cuda)\s*$", text);
        // SERVICE is declared in the build stage and in the final one, which starts WaveMesh.<SERVICE>.dll with exec.
        var lastStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        Assert.Matches(@"(?m)^ARG SERVICE$", lastStage);
        Assert.Matches(@"(?m)^ENV WAVEMESH_SERVICE=\$\{SERVICE\}$", lastStage);
        Assert.Contains("exec dotnet \\\"WaveMesh.${WAVEMESH_SERVICE}.dll\\\"", lastStage);
        Assert.False(File.Exists(Repo.PathOf("services", folder, "Dockerfile")), $"services/{folder}/Dockerfile is a second copy of the worker recipe");
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_image_builds_on_the_sdk_runs_as_a_non_root_user_and_probes_liveness(string appId)
    {
        var text = File.ReadAllText(DockerfileOf(appId));
        var lastStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];

        Assert.Matches(@"(?m)^FROM mcr\.microsoft\.com/dotnet/sdk:10\.0 AS build$", text);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/aspnet:10.0", text);
        Assert.Matches(@"(?m)^USER \$APP_UID$", lastStage);
        Assert.Matches(@"HEALTHCHECK [^\n]*\\\n\s+CMD curl -fsS http://localhost:8080/alive", lastStage);
        Assert.Contains("COPY --from=build /app .", lastStage);
    }

    [Fact]
    public void The_worker_image_picks_its_runtime_image_from_the_torch_backend()
    {
        var text = File.ReadAllText(DockerfileOf("finetuner"));

        Assert.Matches(@"(?m)^ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:\S+-runtime-ubuntu24\.04$", text);
        Assert.Matches(@"(?m)^FROM \$\{CUDA_RUNTIME_IMAGE\} AS runtime-cuda$", text);
        Assert.Matches(@"(?m)^FROM aspnet AS runtime-cpu$", text);
        Assert.Matches(@"(?m)^FROM runtime-\$\{TORCH_BACKEND\}$", text);
    }

    [Fact]
    public void The_build_context_leaves_out_secrets_build_outputs_and_local_caches()
    {
        var ignored = File.ReadAllLines(Repo.PathOf(".dockerignore")).Select(l => l.Trim()).ToHashSet();

        Assert.Superset(new HashSet<string> { "secrets", "**/bin", "**/obj", ".git", ".wavemesh" }, ignored);
    }
}
