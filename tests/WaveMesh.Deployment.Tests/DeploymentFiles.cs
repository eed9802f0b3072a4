using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace WaveMesh.Deployment.Tests;

/// <summary>The repository's folder, found by walking up to WaveMesh.sln.</summary>
static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "WaveMesh.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No WaveMesh.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>The five services and their project folders, as the services' code names them.</summary>
static class Apps
{
    public static readonly IReadOnlyDictionary<string, string> Folders = new Dictionary<string, string>
    {
        ["control"] = "Control",
        ["distiller"] = "Distiller",
        ["scaler-trainer"] = "ScalerTrainer",
        ["finetuner"] = "Finetuner",
        ["evaluator"] = "Evaluator",
    };

    public static IEnumerable<string> Ids => Folders.Keys;

    public static readonly string[] GpuIds = ["distiller", "scaler-trainer", "finetuner", "evaluator"];

    public static TheoryData<string> All() => [.. Ids];

    public static TheoryData<string> Gpu() => [.. GpuIds];
}

/// <summary>YAML as compose and Dapr read it: merge keys (&lt;&lt;) applied, tags such as !reset kept on the nodes.</summary>
static class Yaml
{
    public static IReadOnlyList<YamlMappingNode> LoadAll(string path)
    {
        using var reader = File.OpenText(path);
        var stream = new YamlStream();
        stream.Load(new MergingParser(new Parser(reader)));
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    public static YamlMappingNode Load(string path) => Assert.Single(LoadAll(path));

    public static YamlNode? Child(this YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    public static YamlMappingNode? Map(this YamlMappingNode map, string key) => map.Child(key) as YamlMappingNode;

    public static YamlSequenceNode? Seq(this YamlMappingNode map, string key) => map.Child(key) as YamlSequenceNode;

    public static string? Str(this YamlMappingNode map, string key) => (map.Child(key) as YamlScalarNode)?.Value;

    public static string? StrAt(this YamlMappingNode map, params string[] keys) => (map.At(keys) as YamlScalarNode)?.Value;

    /// <summary>The node at a path of keys, or null where one is missing.</summary>
    public static YamlNode? At(this YamlMappingNode map, params string[] keys)
    {
        YamlNode? node = map;
        foreach (var key in keys) node = (node as YamlMappingNode)?.Child(key);
        return node;
    }

    public static IEnumerable<string> Strings(this YamlSequenceNode? seq) =>
        seq?.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "") ?? [];

    public static IEnumerable<KeyValuePair<string, YamlNode>> Entries(this YamlMappingNode? map) =>
        map?.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", c.Value)) ?? [];
}

/// <summary>A compose file: its services, environments, sidecar commands and published ports.</summary>
sealed class ComposeFile(string path)
{
    public static ComposeFile Main { get; } = new(Repo.PathOf("docker-compose.yml"));
    public static ComposeFile CpuOverride { get; } = new(Repo.PathOf("docker-compose.cpu.yml"));

    public string Path { get; } = path;
    public YamlMappingNode Root { get; } = Yaml.Load(path);

    public IReadOnlyDictionary<string, YamlMappingNode> Services =>
        Root.Map("services").Entries().ToDictionary(e => e.Key, e => (YamlMappingNode)e.Value);

    public YamlMappingNode Service(string name) =>
        Services.TryGetValue(name, out var service) ? service : throw new Xunit.Sdk.XunitException($"{Path} has no service {name}");

    /// <summary>Services that run daprd, by name.</summary>
    public IReadOnlyDictionary<string, YamlMappingNode> Sidecars =>
        Services.Where(s => (s.Value.Str("image") ?? "").StartsWith("daprio/daprd:", StringComparison.Ordinal)
                            || Command(s.Value).FirstOrDefault()?.EndsWith("daprd", StringComparison.Ordinal) == true)
            .ToDictionary();

    /// <summary>The service whose network namespace a service joins (itself unless network_mode is service:X).</summary>
    public static string NamespaceOwner(string name, YamlMappingNode service)
    {
        var mode = service.Str("network_mode") ?? "";
        return mode.StartsWith("service:", StringComparison.Ordinal) ? mode["service:".Length..] : name;
    }

    public static IReadOnlyList<string> Command(YamlMappingNode service) => service.Child("command") switch
    {
        YamlSequenceNode seq => [.. seq.Strings()],
        YamlScalarNode scalar => scalar.Value?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [],
        _ => [],
    };

    public static IReadOnlyDictionary<string, string> Environment(YamlMappingNode service) => service.Child("environment") switch
    {
        YamlMappingNode map => map.Entries().ToDictionary(e => e.Key, e => ((YamlScalarNode)e.Value).Value ?? ""),
        YamlSequenceNode seq => seq.Strings().Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : ""),
        _ => new Dictionary<string, string>(),
    };

    /// <summary>The env_file entries of a service (a single path or a list), relative to the repository.</summary>
    public static IReadOnlyList<string> EnvFiles(YamlMappingNode service) => service.Child("env_file") switch
    {
        YamlScalarNode one => [one.Value ?? ""],
        YamlSequenceNode many => [.. many.Children.Select(c => c is YamlMappingNode m ? m.Str("path") ?? "" : ((YamlScalarNode)c).Value ?? "")],
        _ => [],
    };

    /// <summary>Variables set by an env file (KEY=value lines; # starts a comment).</summary>
    public static IReadOnlyDictionary<string, string> ReadEnvFile(string relativePath) =>
        File.ReadAllLines(System.IO.Path.Combine(Repo.Root, relativePath))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#') && l.Contains('='))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);

    /// <summary>Host ports a service publishes and the container ports behind them (short or long syntax).</summary>
    public static IEnumerable<(int Port, int Target)> PublishedPorts(YamlMappingNode service)
    {
        foreach (var entry in service.Seq("ports")?.Children ?? [])
        {
            if (entry is YamlMappingNode longSyntax)
            {
                if (longSyntax.Str("published") is { } published)
                    yield return (int.Parse(published), int.Parse(longSyntax.Str("target") ?? "0"));
                continue;
            }
            // [ip:]host:container[/protocol]
            var parts = (((YamlScalarNode)entry).Value ?? "").Split('/')[0].Split(':');
            if (parts.Length == 1) continue; // container port only: Docker picks a free host port
            yield return (int.Parse(parts[^2]), int.Parse(parts[^1]));
        }
    }

    /// <summary>The port in each ASPNETCORE_URLS entry (http://+:8080;http://+:8081).</summary>
    public static IEnumerable<int> AspNetCorePorts(YamlMappingNode service) =>
        Environment(service).TryGetValue("ASPNETCORE_URLS", out var urls)
            ? urls.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(u => int.Parse(Regex.Match(u, @":(\d+)/?$").Groups[1].Value))
            : [];

    /// <summary>Host folders mounted into a service, by container path (short syntax host:container[:mode]).</summary>
    public static IReadOnlyDictionary<string, (string Host, bool ReadOnly)> BindMounts(YamlMappingNode service) =>
        service.Seq("volumes").Strings()
            .Select(v => v.Split(':'))
            .Where(p => p.Length >= 2 && (p[0].StartsWith('.') || p[0].StartsWith('/')))
            .ToDictionary(p => p[1], p => (p[0], p.Length > 2 && p[2].Split(',').Contains("ro")));
}

/// <summary>A daprd command line: --flag value or --flag=value, single or double dash.</summary>
sealed class Daprd(IReadOnlyList<string> args)
{
    public static Daprd Of(YamlMappingNode sidecar) => new(ComposeFile.Command(sidecar));

    public IEnumerable<string> All(string flag)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var (name, inline) = Split(args[i]);
            if (name != flag) continue;
            if (inline is not null) yield return inline;
            else if (i + 1 < args.Count && !args[i + 1].StartsWith('-')) yield return args[i + 1];
        }
    }

    public string? One(string flag) => All(flag).SingleOrDefault();

    public bool Has(string flag) => args.Any(a => Split(a).Name == flag);

    public int Port(string flag, int daprDefault) => One(flag) is { } value ? int.Parse(value) : daprDefault;

    /// <summary>Every port daprd listens on, with Dapr's defaults where a flag is absent.</summary>
    public IEnumerable<(string What, int Port)> ListeningPorts()
    {
        yield return ("dapr http", Port("dapr-http-port", 3500));
        yield return ("dapr grpc", Port("dapr-grpc-port", 50001));
        if (One("enable-metrics") != "false") yield return ("dapr metrics", Port("metrics-port", 9090));
        if (One("dapr-internal-grpc-port") is { } internalGrpc) yield return ("dapr internal grpc", int.Parse(internalGrpc));
        if (One("dapr-public-port") is { } publicPort) yield return ("dapr public", int.Parse(publicPort));
        if (Has("enable-profiling")) yield return ("dapr profiling", Port("profile-port", 7777));
    }

    static (string Name, string? Inline) Split(string arg)
    {
        if (!arg.StartsWith('-')) return ("", null);
        var trimmed = arg.TrimStart('-');
        var eq = trimmed.IndexOf('=');
        return eq < 0 ? (trimmed, null) : (trimmed[..eq], trimmed[(eq + 1)..]);
    }
}

/// <summary>A Dapr component from components/*.yaml.</summary>
sealed record Component(string File, string Name, string Type, IReadOnlyList<string> Scopes, string? SecretStore,
    IReadOnlyList<(string Item, string Secret)> SecretRefs, YamlMappingNode Spec)
{
    public static IReadOnlyList<Component> All { get; } = Load();

    public static Component? Named(string name) => All.SingleOrDefault(c => c.Name == name);

    /// <summary>Names of every metadata item.</summary>
    public IEnumerable<string> MetadataNames => (Spec.Seq("metadata")?.Children ?? []).Cast<YamlMappingNode>().Select(m => m.Str("name") ?? "");

    /// <summary>The plain value of a metadata item.</summary>
    public string? Metadata(string name) =>
        Spec.Seq("metadata")?.Children.Cast<YamlMappingNode>().SingleOrDefault(m => m.Str("name") == name)?.Str("value");

    static IReadOnlyList<Component> Load() =>
    [
        .. Directory.GetFiles(Repo.PathOf("components"), "*.yaml").Order()
            .SelectMany(file => Yaml.LoadAll(file).Where(d => d.Str("kind") == "Component").Select(d => Parse(file, d))),
    ];

    static Component Parse(string file, YamlMappingNode doc)
    {
        var spec = doc.Map("spec") ?? throw new Xunit.Sdk.XunitException($"{file} has no spec");
        var refs = (spec.Seq("metadata")?.Children ?? []).Cast<YamlMappingNode>()
            .Where(m => m.Map("secretKeyRef") is not null)
            .Select(m => (m.Str("name") ?? "", m.Map("secretKeyRef")!.Str("name") ?? ""))
            .ToList();
        return new Component(System.IO.Path.GetFileName(file), doc.Map("metadata")?.Str("name") ?? "", spec.Str("type") ?? "",
            [.. doc.Seq("scopes").Strings()], doc.At("auth", "secretStore") is YamlScalarNode store ? store.Value : null, refs, spec);
    }
}
