using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace WaveMesh.Deployment.Tests;

public sealed class Wiring_dapr_components
{
    static readonly ComposeFile Compose = ComposeFile.Main;

    [Theory]
    [MemberData(nameof(Apps.All), MemberType = typeof(Apps))]
    public void Every_component_a_service_uses_exists_and_lists_the_service_in_its_scopes(string appId)
    {
        var environment = ComposeFile.Environment(Compose.Service(appId));
        var used = new[]
        {
            (Name: environment.GetValueOrDefault("WaveMesh__Dapr__PubSub", "pubsub"), Kind: "pubsub."),
            (Name: environment.GetValueOrDefault("WaveMesh__Dapr__StateStore", "statestore"), Kind: "state."),
        };

        foreach (var (name, kind) in used)
        {
            var component = Component.Named(name);
            Assert.True(component is not null, $"{appId} uses component {name}, which is not in components/");
            Assert.StartsWith(kind, component.Type);
            Assert.Contains(appId, component.Scopes);
        }
    }

    // The keys each component type reads, from components-contrib v1.16.13 (the version daprd 1.16 pins): RabbitMQ
    // pubsub/rabbitmq/metadata.go (rabbitmqMetadata, createMetadata) and pubsub/tls.go; Redis
    // common/component/redis/settings.go and state/redis/redis.go; the local file secret store
    // secretstores/local/file/filestore.go; plus what daprd reads itself for any component
    // (pkg/scopes/scopes.go, pkg/components/state/state_config.go keyPrefix, actorStateStore). A component silently
    // ignores a key it does not read, so a misspelt key (reconnectWait for reconnectWaitSeconds) changes nothing.
    static readonly Dictionary<string, string[]> KnownKeys = new()
    {
        ["pubsub.rabbitmq"] =
        [
            "connectionString", "host", "protocol", "hostname", "username", "password", "consumerID", "durable", "enableDeadLetter",
            "deletedWhenUnused", "autoAck", "requeueInFailure", "deliveryMode", "prefetchCount", "reconnectWaitSeconds", "maxLen",
            "maxLenBytes", "exchangeKind", "clientName", "heartBeat", "publisherConfirm", "saslExternal", "concurrencyMode",
            "ttlInSeconds", "ttl", "publishMessagePropertiesToMetadata", "caCert", "clientCert", "clientKey",
            "subscriptionScopes", "publishingScopes", "allowedTopics", "protectedTopics",
        ],
        ["state.redis"] =
        [
            "redisHost", "redisPassword", "redisUsername", "sentinelUsername", "sentinelPassword", "redisDB", "redisType",
            "redisMaxRetries", "maxRetries", "redisMinRetryInterval", "maxRetryBackoff", "redisMaxRetryInterval", "dialTimeout",
            "readTimeout", "writeTimeout", "poolSize", "minIdleConns", "maxConnAge", "poolTimeout", "idleTimeout", "idleCheckFrequency",
            "sentinelMasterName", "failover", "enableTLS", "clientCert", "clientKey", "ttlInSeconds", "queryIndexes", "useEntraID",
            "useAzureAD", "keyPrefix", "actorStateStore",
        ],
        ["secretstores.local.file"] = ["secretsFile", "nestedSeparator", "multiValued"],
    };

    [Fact]
    public void Every_component_metadata_key_is_one_its_component_reads()
    {
        Assert.NotEmpty(Component.All);
        foreach (var component in Component.All)
        {
            Assert.True(KnownKeys.TryGetValue(component.Type, out var known), $"{component.File}: no list of keys for {component.Type}");
            foreach (var name in component.MetadataNames)
                Assert.True(known.Contains(name, StringComparer.OrdinalIgnoreCase), $"{component.File}: {component.Type} does not read metadata '{name}'");
        }
    }

    [Fact]
    public void Every_secret_reference_names_a_secret_store_that_exists_for_the_same_apps()
    {
        var referencing = Component.All.Where(c => c.SecretRefs.Count > 0).ToList();

        Assert.NotEmpty(referencing);
        foreach (var component in referencing)
        {
            Assert.True(component.SecretStore is not null, $"{component.Name} uses secretKeyRef without auth.secretStore");
            var store = Component.Named(component.SecretStore);
            Assert.True(store is not null, $"{component.Name} reads secrets from {component.SecretStore}, which is not in components/");
            Assert.StartsWith("secretstores.", store.Type);
            Assert.Empty(component.Scopes.Except(store.Scopes));
        }
    }

    [Fact]
    public void Every_referenced_secret_is_in_the_secrets_file_mounted_into_every_sidecar()
    {
        var fileStores = Component.All.Where(c => c.Type == "secretstores.local.file").ToList();
        Assert.NotEmpty(fileStores);

        foreach (var store in fileStores)
        {
            var secretsFile = store.Metadata("secretsFile") ?? "";
            Assert.StartsWith("/run/secrets/", secretsFile);
            var composeSecret = secretsFile["/run/secrets/".Length..];
            foreach (var (name, sidecar) in Compose.Sidecars)
                Assert.True(SecretNames(sidecar).Contains(composeSecret), $"{name} does not mount the compose secret {composeSecret}");

            var hostFile = Compose.Root.StrAt("secrets", composeSecret, "file") ?? "";
            var separator = store.Metadata("nestedSeparator") ?? ":";
            var keys = Flatten(JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, hostFile))).RootElement, "", separator).ToList();
            foreach (var (item, secret) in Component.All.Where(c => c.SecretStore == store.Name).SelectMany(c => c.SecretRefs))
                Assert.True(keys.Contains(secret), $"{item} needs secret {secret}, which {hostFile} lacks");
        }
    }

    [Fact]
    public void The_state_store_is_shared_by_every_service_rather_than_split_by_app_id()
    {
        var store = Component.Named("statestore")!;

        Assert.Equal("state.redis", store.Type);
        // Dapr prefixes keys with the app-id by default: one stage could not read the artifacts another wrote.
        Assert.Contains(store.Metadata("keyPrefix"), new[] { "name", "none" });
        Assert.Equal("false", store.Metadata("actorStateStore"));
        Assert.Contains(store.SecretRefs, r => r.Item == "redisPassword");
        Assert.Equal(Apps.Ids.Order(), store.Scopes.Order());
    }

    [Fact]
    public void The_broker_keeps_every_message_until_a_service_has_handled_it()
    {
        var pubsub = Component.Named("pubsub")!;

        Assert.Equal("pubsub.rabbitmq", pubsub.Type);
        Assert.Equal("false", pubsub.Metadata("autoAck"));
        Assert.Equal("true", pubsub.Metadata("durable"));
        Assert.Equal("2", pubsub.Metadata("deliveryMode"));
        Assert.Equal("true", pubsub.Metadata("enableDeadLetter"));
        Assert.InRange(int.Parse(pubsub.Metadata("maxLen") ?? "0"), 1, 1_000_000);
        Assert.InRange(int.Parse(pubsub.Metadata("prefetchCount") ?? "0"), 1, 100);
        Assert.Contains(pubsub.SecretRefs, r => r.Item == "connectionString");
        Assert.Equal(Apps.Ids.Order(), pubsub.Scopes.Order());
    }

    [Fact]
    public void The_development_secrets_agree_with_each_other()
    {
        var daprSecrets = JsonDocument.Parse(File.ReadAllText(Repo.PathOf("secrets", "dev-dapr-secrets.json"))).RootElement;
        var redisPassword = File.ReadAllText(Path.Combine(Repo.Root, Compose.Root.StrAt("secrets", "redis_password", "file")!)).Trim();
        var rabbit = ComposeFile.ReadEnvFile(ComposeFile.EnvFiles(Compose.Service("rabbitmq")).Single());
        var connection = new Uri(daprSecrets.GetProperty("rabbitmq-connection-string").GetString()!);

        Assert.Equal(redisPassword, daprSecrets.GetProperty("redis-password").GetString());
        Assert.Equal($"{rabbit["RABBITMQ_DEFAULT_USER"]}:{rabbit["RABBITMQ_DEFAULT_PASS"]}", Uri.UnescapeDataString(connection.UserInfo));
        Assert.Equal("rabbitmq", connection.Host);
        Assert.Equal("redis:6379", Component.Named("statestore")!.Metadata("redisHost"));
        // Every secret compose hands out is a development-only file, named so.
        foreach (var (_, secret) in Compose.Root.Map("secrets").Entries())
            Assert.StartsWith("./secrets/dev-", ((YamlMappingNode)secret).Str("file"));
    }

    [Fact]
    public void Only_the_control_service_gets_the_control_api_token()
    {
        var holders = Compose.Services.Where(s => SecretNames(s.Value).Contains("control_api_token")).Select(s => s.Key);

        Assert.Equal(["control"], holders);
        Assert.Equal("/run/secrets/control_api_token",
            ComposeFile.Environment(Compose.Service("control"))["WaveMesh__Control__ApiTokenFile"]);
        Assert.False(string.IsNullOrWhiteSpace(File.ReadAllText(
            Path.Combine(Repo.Root, Compose.Root.StrAt("secrets", "control_api_token", "file")!))));
    }

    static IReadOnlyList<string> SecretNames(YamlMappingNode service) =>
        [.. (service.Seq("secrets")?.Children ?? []).Select(s => s is YamlMappingNode m ? m.Str("source") ?? "" : ((YamlScalarNode)s).Value ?? "")];

    static IEnumerable<string> Flatten(JsonElement element, string prefix, string separator) =>
        element.ValueKind == JsonValueKind.Object
            ? element.EnumerateObject().SelectMany(p => Flatten(p.Value, prefix.Length == 0 ? p.Name : prefix + separator + p.Name, separator))
            : [prefix];
}
