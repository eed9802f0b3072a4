using System.Text.RegularExpressions;

namespace WaveMesh.Deployment.Tests;

public sealed class Building_images
{
    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_dockerfile_referenced_by_compose_exists_and_publishes_the_project_of_its_folder(string appId)
    {
        var build = ComposeFile.Main.Service(appId).Map("build")!;
        var context = Path.GetFullPath(Path.Combine(Repo.Root, build.Str("context") ?? "."));
        var dockerfile = Path.GetFullPath(Path.Combine(context, build.Str("dockerfile") ?? "Dockerfile"));
        var folder = Apps.Folders[appId];

        Assert.Equal(Repo.Root, context);
        Assert.Equal(Repo.PathOf("services", folder, "Dockerfile"), dockerfile);
        Assert.True(File.Exists(dockerfile), $"{dockerfile} is missing");
        var text = File.ReadAllText(dockerfile);
        var publish = Assert.Single(Regex.Matches(text, @"dotnet publish (\S+)"));
        Assert.Equal($"services/{folder}/WaveMesh.{folder}.csproj", publish.Groups[1].Value);
        Assert.True(File.Exists(Path.Combine(Repo.Root, publish.Groups[1].Value)), $"{publish.Groups[1].Value} is missing");
        Assert.Contains("-p:WaveMeshTorchBackend=$TORCH_BACKEND", text);
        Assert.Matches(@"(?m)^ARG TORCH_BACKEND=(cpu|cuda)\s*$", text);
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"WaveMesh.{folder}.dll\"]", text);
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_image_builds_on_the_sdk_runs_as_a_non_root_user_and_probes_liveness(string appId)
    {
        var text = File.ReadAllText(Repo.PathOf("services", Apps.Folders[appId], "Dockerfile"));
        var lastStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];

        Assert.Matches(@"(?m)^FROM mcr\.microsoft\.com/dotnet/sdk:10\.0 AS build$", text);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/aspnet:10.0", text);
        Assert.Matches(@"(?m)^USER \$APP_UID$", lastStage);
        Assert.Matches(@"HEALTHCHECK [^\n]*\\\n\s+CMD curl -fsS http://localhost:8080/alive", lastStage);
        Assert.Contains("COPY --from=build /app .", lastStage);
    }

    [Theory]
    [MemberData(nameof(Apps.Gpu), MemberType = typeof(Apps))]
    public void Every_gpu_image_picks_its_runtime_image_from_the_torch_backend(string appId)
    {
        var text = File.ReadAllText(Repo.PathOf("services", Apps.Folders[appId], "Dockerfile"));

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
