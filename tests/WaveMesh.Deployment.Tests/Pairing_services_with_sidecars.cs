namespace WaveMesh.Deployment.Tests;

public sealed class Pairing_services_with_sidecars
{
    static readonly ComposeFile Compose = ComposeFile.Main;

    [Fact]
    public void The_services_built_from_this_repository_are_exactly_the_five_application_services()
    {
        var built = Compose.Services.Where(s => s.Value.Child("build") is not null).Select(s => s.Key).Order();

        Assert.Equal(Apps.Ids.Order(), built);
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_application_service_has_exactly_one_sidecar_with_its_app_id_and_port(string appId)
    {
        var sidecars = Compose.Sidecars.Where(s => ComposeFile.NamespaceOwner(s.Key, s.Value) == appId).ToList();

        var (name, sidecar) = Assert.Single(sidecars);
        Assert.Equal($"{appId}-dapr", name);
        Assert.Equal($"service:{appId}", sidecar.Str("network_mode"));
        var daprd = Daprd.Of(sidecar);
        Assert.Equal(appId, daprd.One("app-id"));
        var appPort = Assert.Single(ComposeFile.AspNetCorePorts(Compose.Service(appId)));
        Assert.Equal(appPort, int.Parse(daprd.One("app-port") ?? "0"));
        Assert.Equal("http", daprd.One("app-protocol"));
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_sidecar_loads_the_components_the_resiliency_policy_and_the_configuration_of_the_repository(string appId)
    {
        var sidecar = Compose.Service($"{appId}-dapr");
        var daprd = Daprd.Of(sidecar);
        var mounts = ComposeFile.BindMounts(sidecar);

        // Every resources path is a read-only mount of a repository folder; together they hold every component
        // and the resiliency policy (daprd skips the other kinds, such as the Configuration, in those folders).
        var loaded = daprd.All("resources-path").Select(path =>
        {
            Assert.True(mounts.TryGetValue(path, out var mount), $"{appId}-dapr: --resources-path {path} is not a mounted folder");
            Assert.True(mount.ReadOnly, $"{appId}-dapr: {path} is mounted read-write");
            return Path.GetFullPath(Path.Combine(Repo.Root, mount.Host));
        }).ToList();
        Assert.Contains(Repo.PathOf("components"), loaded);
        Assert.Contains(Repo.PathOf("dapr"), loaded);
        Assert.True(File.Exists(Repo.PathOf("dapr", "resiliency.yaml")));

        var config = daprd.One("config") ?? "";
        var configMount = mounts.Single(m => config.StartsWith(m.Key + "/", StringComparison.Ordinal));
        Assert.Equal(Repo.PathOf("dapr", "config.yaml"),
            Path.GetFullPath(Path.Combine(Repo.Root, configMount.Value.Host, config[(configMount.Key.Length + 1)..])));
    }

    [Fact]
    public void Every_sidecar_runs_the_same_pinned_daprd_1_16_release()
    {
        var images = Compose.Sidecars.Values.Select(s => s.Str("image") ?? "").Distinct().ToList();

        var image = Assert.Single(images);
        Assert.Matches(@"^daprio/daprd:1\.16\.\d+$", image);
        Assert.Equal(Apps.Ids.Count(), Compose.Sidecars.Count);
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_service_reaches_its_sidecar_on_the_ports_the_sidecar_listens_on_with_the_same_tokens(string appId)
    {
        var service = Compose.Service(appId);
        var sidecar = Compose.Service($"{appId}-dapr");
        var daprd = Daprd.Of(sidecar);
        var environment = ComposeFile.Environment(service);

        Assert.Equal($"http://localhost:{daprd.Port("dapr-http-port", 3500)}", environment["DAPR_HTTP_ENDPOINT"]);
        Assert.Equal($"http://localhost:{daprd.Port("dapr-grpc-port", 50001)}", environment["DAPR_GRPC_ENDPOINT"]);
        // The app sends DAPR_API_TOKEN and the sidecar sends APP_API_TOKEN: both sides must read the same file.
        var tokens = ComposeFile.EnvFiles(service).Intersect(ComposeFile.EnvFiles(sidecar))
            .Select(ComposeFile.ReadEnvFile).Single(v => v.ContainsKey("DAPR_API_TOKEN"));
        Assert.False(string.IsNullOrWhiteSpace(tokens["DAPR_API_TOKEN"]));
        Assert.False(string.IsNullOrWhiteSpace(tokens["APP_API_TOKEN"]));
        Assert.NotEqual(tokens["DAPR_API_TOKEN"], tokens["APP_API_TOKEN"]);
    }

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_sidecar_waits_for_a_healthy_broker_and_store_and_a_started_service(string appId)
    {
        var sidecar = Compose.Service($"{appId}-dapr");

        Assert.Equal("service_started", sidecar.StrAt("depends_on", appId, "condition"));
        Assert.Equal("service_healthy", sidecar.StrAt("depends_on", "redis", "condition"));
        Assert.Equal("service_healthy", sidecar.StrAt("depends_on", "rabbitmq", "condition"));
    }
}
