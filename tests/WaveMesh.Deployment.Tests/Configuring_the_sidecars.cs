using YamlDotNet.RepresentationModel;

namespace WaveMesh.Deployment.Tests;

public sealed class Configuring_the_sidecars
{
    static readonly YamlMappingNode Config = Yaml.Load(Repo.PathOf("dapr", "config.yaml"));
    static readonly YamlMappingNode Resiliency = Yaml.Load(Repo.PathOf("dapr", "resiliency.yaml"));

    [Fact]
    public void Tracing_samples_every_request_and_exports_to_the_collector_in_compose()
    {
        Assert.Equal("Configuration", Config.Str("kind"));
        Assert.Equal("wavemesh", Config.StrAt("metadata", "name"));
        Assert.Equal("1", Config.StrAt("spec", "tracing", "samplingRate"));
        var endpoint = Config.StrAt("spec", "tracing", "otel", "endpointAddress")
            ?? new Uri(Config.StrAt("spec", "tracing", "zipkin", "endpointAddress") ?? "http://-").Authority;
        var host = endpoint.Split(':')[0];
        Assert.Contains(host, ComposeFile.Main.Services.Keys);
        Assert.Equal("true", Config.StrAt("spec", "metric", "enabled"));
    }

    [Fact]
    public void Publishing_has_a_timeout_an_exponential_retry_and_a_circuit_breaker()
    {
        Assert.Equal("Resiliency", Resiliency.Str("kind"));
        var target = Target("pubsub", "outbound");
        AssertTimeout(target);
        var retry = (YamlMappingNode)Policy("retries", target.Str("retry"));
        Assert.Equal("exponential", retry.Str("policy"));
        Assert.NotNull(retry.Str("maxInterval"));
        AssertBreaker(target);
    }

    // Redis reports a lost first-write race as a plain error (components-contrib state/redis/redis.go, setDefaultQuery),
    // which daprd maps to Internal (pkg/api/grpc/grpc.go getStateErrorCode) and would retry like an outage; the app
    // tells the two apart itself, so the state store has no sidecar retry.
    [Fact]
    public void State_calls_have_a_timeout_and_a_circuit_breaker_but_no_sidecar_retry()
    {
        Assert.NotNull(Component.Named("statestore"));
        var target = Target("statestore", "outbound");
        AssertTimeout(target);
        Assert.Null(target.Child("retry"));
        AssertBreaker(target);
    }

    static YamlMappingNode Target(string component, string direction) =>
        Resiliency.At("spec", "targets", "components", component, direction) as YamlMappingNode
        ?? throw new Xunit.Sdk.XunitException($"no {direction} policy for {component}");

    static void AssertTimeout(YamlMappingNode target)
    {
        var timeout = Policy("timeouts", target.Str("timeout"));
        Assert.InRange(TimeSpan.Parse("00:00:" + ((YamlScalarNode)timeout).Value!.TrimEnd('s')), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
    }

    static void AssertBreaker(YamlMappingNode target)
    {
        var breaker = (YamlMappingNode)Policy("circuitBreakers", target.Str("circuitBreaker"));
        Assert.StartsWith("consecutiveFailures", breaker.Str("trip"));
        Assert.NotNull(breaker.Str("timeout"));
    }

    [Fact]
    public void Deliveries_from_the_broker_are_retried_at_a_constant_pace_behind_a_circuit_breaker()
    {
        var inbound = (YamlMappingNode)Resiliency.At("spec", "targets", "components", "pubsub", "inbound")!;

        var retry = (YamlMappingNode)Policy("retries", inbound.Str("retry"));
        Assert.Equal("constant", retry.Str("policy"));
        Assert.NotNull(retry.Str("duration"));
        Assert.NotNull(Policy("circuitBreakers", inbound.Str("circuitBreaker")));
        // A delivery is not cut short: the subscriber decides how long handling an event takes.
        Assert.Null(inbound.Child("timeout"));
    }

    [Fact]
    public void Every_app_is_a_resiliency_target_and_the_policy_applies_to_every_app()
    {
        var apps = Resiliency.At("spec", "targets", "apps") as YamlMappingNode;

        Assert.Equal(Apps.Ids.Order(), apps.Entries().Select(a => a.Key).Order());
        foreach (var (_, target) in apps.Entries())
        {
            Assert.NotNull(Policy("timeouts", ((YamlMappingNode)target).Str("timeout")));
            Assert.NotNull(Policy("retries", ((YamlMappingNode)target).Str("retry")));
            Assert.NotNull(Policy("circuitBreakers", ((YamlMappingNode)target).Str("circuitBreaker")));
        }
        Assert.Equal(Apps.Ids.Order(), Resiliency.Seq("scopes").Strings().Order());
    }

    static YamlNode Policy(string kind, string? name)
    {
        Assert.False(string.IsNullOrEmpty(name), $"no {kind} policy named");
        var policy = Resiliency.At("spec", "policies", kind, name);
        Assert.True(policy is not null, $"{kind} policy {name} is not defined");
        return policy;
    }
}
