using YamlDotNet.RepresentationModel;

namespace WaveMesh.Deployment.Tests;

public sealed class Checking_health
{
    static readonly ComposeFile Compose = ComposeFile.Main;

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_application_service_has_a_healthcheck_on_its_health_endpoint(string appId)
    {
        var service = Compose.Service(appId);

        var test = string.Join(" ", HealthcheckTest(service));
        var port = Assert.Single(ComposeFile.AspNetCorePorts(service));
        Assert.Contains($"http://localhost:{port}/health", test);
    }

    [Fact]
    public void Every_service_waited_for_as_healthy_has_a_healthcheck()
    {
        var awaited = Compose.Services.Values
            .SelectMany(s => s.Map("depends_on").Entries())
            .Where(d => d.Value is YamlMappingNode m && m.Str("condition") == "service_healthy")
            .Select(d => d.Key).Distinct().ToList();

        Assert.Superset(new HashSet<string> { "redis", "rabbitmq" }, awaited.ToHashSet());
        foreach (var name in awaited)
            Assert.NotEmpty(HealthcheckTest(Compose.Service(name)));
        Assert.Contains("redis-cli ping", string.Join(" ", HealthcheckTest(Compose.Service("redis"))));
        Assert.Contains("rabbitmq-diagnostics -q ping", string.Join(" ", HealthcheckTest(Compose.Service("rabbitmq"))));
    }

    static IReadOnlyList<string> HealthcheckTest(YamlMappingNode service)
    {
        var healthcheck = service.Map("healthcheck");
        Assert.True(healthcheck is not null, "no healthcheck");
        Assert.NotEqual("true", healthcheck.Str("disable"));
        var test = healthcheck.Child("test") switch
        {
            YamlSequenceNode seq => seq.Strings().ToList(),
            YamlScalarNode scalar => [scalar.Value ?? ""],
            _ => [],
        };
        Assert.NotEmpty(test);
        Assert.NotEqual("NONE", test[0]);
        return test;
    }
}
