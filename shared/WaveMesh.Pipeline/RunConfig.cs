using System.Globalization;
using WaveMesh.Contracts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace WaveMesh.Pipeline;

/// <summary>How the run gets its teacher: a checkpoint file, or a model of <see cref="Size"/> trained from scratch (and cached).</summary>
public sealed record TeacherPlan(string? File, int? Heads, ModelSize Size, TrainSettings Training, long Seed);

/// <summary>A configuration file that cannot be run; <see cref="Problems"/> lists every problem with the key it is about.</summary>
public sealed class ConfigException(IReadOnlyList<string> problems, string? source)
    : Exception($"{(source is null ? "configuration" : source)}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")}: {string.Join("; ", problems)}")
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// The main job's configuration (YAML, snake_case keys; see configs/default.yaml). Every key has a default that
/// runs on a laptop; unknown keys, bad values and impossible sizes are all reported together before any work starts.
/// </summary>
public sealed record RunConfig(TeacherPlan Teacher, PipelineDefinition Pipeline)
{
    /// <summary>Batches in one epoch of the training split of each known dataset (batch size 128).</summary>
    static int TrainCount(string dataset) => dataset == "cifar-10" ? 50_000 : 60_000;

    public static RunConfig Default => Parse("{}", null);

    public static RunConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"configuration file not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static RunConfig Parse(string yaml, string? source)
    {
        var reader = new Reader();
        var root = Resolve(yaml, source, []);
        var config = Bind(reader, root);
        if (reader.Problems.Count > 0) throw new ConfigException(reader.Problems, source);
        return config;
    }

    /// <summary>
    /// The document's top-level mapping, laid over the file named by its <c>extends</c> key (relative to this file)
    /// when it has one: mappings merge key by key, anything else (values, lists) replaces what the base says.
    /// </summary>
    static YamlMappingNode Resolve(string yaml, string? source, List<string> chain)
    {
        var root = Load(yaml, source);
        var extendsKey = new YamlScalarNode("extends");
        if (!root.Children.TryGetValue(extendsKey, out var node)) return root;
        root.Children.Remove(extendsKey);
        if (node is not YamlScalarNode { Value: { Length: > 0 } name })
            throw new ConfigException(["extends: expected the path of another configuration file"], source);
        var baseDirectory = source is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(source))!;
        var path = Path.GetFullPath(name, baseDirectory);
        if (chain.Contains(path))
            throw new ConfigException([$"extends: {name} extends itself (through {string.Join(" -> ", chain.Append(path))})"], source);
        if (!File.Exists(path)) throw new ConfigException([$"extends: configuration file not found: {path}"], source);
        chain.Add(path);
        return Merge(Resolve(File.ReadAllText(path), path, chain), root);
    }

    static YamlMappingNode Merge(YamlMappingNode under, YamlMappingNode over)
    {
        var merged = new YamlMappingNode();
        foreach (var (key, value) in under.Children) merged.Children[key] = value;
        foreach (var (key, value) in over.Children)
            merged.Children[key] = merged.Children.TryGetValue(key, out var old) && old is YamlMappingNode a && value is YamlMappingNode b
                ? Merge(a, b)
                : value;
        return merged;
    }

    static YamlMappingNode Load(string yaml, string? source)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream.Documents.Count == 0 ? new YamlMappingNode()
                : stream.Documents[0].RootNode as YamlMappingNode ?? throw new ConfigException(["the top level must be a mapping of keys"], source);
        }
        catch (YamlException e)
        {
            throw new ConfigException([$"not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}"], source);
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet reports some malformed documents (an unclosed flow list, say) this way, without a position.
            throw new ConfigException([$"not valid YAML: {e.Message}"], source);
        }
    }

    static RunConfig Bind(Reader r, YamlMappingNode root)
    {
        r.Known(root, "", "seed", "data", "teacher", "family", "templates", "auxiliary", "distill", "scalers", "finetune", "methods", "targets", "promotion");
        long seed = r.Long(root, "seed", 0);

        var data = r.Map(root, "data");
        r.Known(data, "data", "dataset", "path");
        var dataset = r.Choice(data, "data.dataset", "dataset", "fashion-mnist", ["fashion-mnist", "cifar-10"]);
        var dataPath = r.String(data, "data.path", "path", null);
        var (imageSize, channels, classes) = dataset == "cifar-10" ? (32, 3, 10) : (28, 1, 10);
        int stepsPerEpoch = TrainCount(dataset) / 128;

        var familyNode = r.Map(root, "family");
        r.Known(familyNode, "family", "patch_size", "mlp_ratio", "pooling");
        var family = new ModelFamily(imageSize, channels, r.Int(familyNode, "family.patch_size", "patch_size", 7, min: 1),
            r.Int(familyNode, "family.mlp_ratio", "mlp_ratio", 4, min: 1), classes,
            r.Enum(familyNode, "family.pooling", "pooling", Pooling.Token));
        if (imageSize % family.PatchSize != 0) r.Problem($"family.patch_size: {family.PatchSize} does not divide the image size {imageSize}");

        var t = r.Map(root, "templates");
        r.Known(t, "templates", "size", "matrix", "vector", "embedding", "carry");
        var carryNode = r.Map(t, "carry", "templates.carry");
        r.Known(carryNode, "templates.carry", "vectors", "pos_embed", "cls_token", "patch_embed", "head");
        Carry CarryOf(string key) => r.Enum(carryNode, $"templates.carry.{key}", key, Carry.Templated);
        var carry = new CarrySettings(CarryOf("vectors"), CarryOf("pos_embed"), CarryOf("cls_token"), CarryOf("patch_embed"), CarryOf("head"));
        var templates = new TemplateSettings(r.Int(t, "templates.size", "size", 32, min: 1), r.Int(t, "templates.matrix", "matrix", 64, min: 1),
            r.Int(t, "templates.vector", "vector", 4, min: 1), r.Int(t, "templates.embedding", "embedding", 8, min: 1),
            carry == new CarrySettings() ? null : carry);

        var teacherNode = r.Map(root, "teacher");
        r.Known(teacherNode, "teacher", "file", "heads", "size", "epochs", "learning_rate", "augmentation");
        var teacherSize = r.Size(teacherNode, "teacher.size", "size", new ModelSize(6, 128, 4), null);
        var teacher = new TeacherPlan(r.String(teacherNode, "teacher.file", "file", null), r.OptionalInt(teacherNode, "teacher.heads", "heads"), teacherSize,
            new TrainSettings((int)Math.Round(r.Double(teacherNode, "teacher.epochs", "epochs", 3, min: 0.01) * stepsPerEpoch),
                LearningRate: r.Double(teacherNode, "teacher.learning_rate", "learning_rate", 1e-3, min: 1e-9),
                Augmentation: r.Enum(teacherNode, "teacher.augmentation", "augmentation", Augmentation.None)), seed);

        var auxiliary = r.Size(root, "auxiliary", "auxiliary", new ModelSize(4, 128, 4), templates.Size);

        var d = r.Map(root, "distill");
        r.Known(d, "distill", "epochs", "learning_rate", "learning_rate_scale", "temperature", "batch_size", "augmentation");
        int distillBatch = r.Int(d, "distill.batch_size", "batch_size", 128, min: 1);
        var distill = new TrainSettings((int)Math.Round(r.Double(d, "distill.epochs", "epochs", 3, min: 0.001) * TrainCount(dataset) / distillBatch),
            distillBatch, r.Double(d, "distill.learning_rate", "learning_rate", 5e-4, min: 1e-9),
            Augmentation: r.Enum(d, "distill.augmentation", "augmentation", Augmentation.None));
        double temperature = r.Double(d, "distill.temperature", "temperature", 1.0, min: 0.01);
        var distillScales = r.Scales(d, "distill.learning_rate_scale", templates: true, scalers: 10);

        var s = r.Map(root, "scalers");
        r.Known(s, "scalers", "steps", "batch_size", "subset", "learning_rate", "learning_rate_scale", "init", "depth", "width", "reference", "augmentation");
        var scalers = new TrainSettings(r.Int(s, "scalers.steps", "steps", 300, min: 1), r.Int(s, "scalers.batch_size", "batch_size", 128, min: 1),
            LearningRate: r.Double(s, "scalers.learning_rate", "learning_rate", 0.03, min: 1e-9), WeightDecay: 0,
            Augmentation: r.Enum(s, "scalers.augmentation", "augmentation", Augmentation.None));
        int subset = r.Int(s, "scalers.subset", "subset", 20000, min: 128);
        if (scalers.BatchSize > subset) r.Problem($"scalers.batch_size: {scalers.BatchSize} is more than the {subset} images of scalers.subset");
        var scalerInit = r.Enum(s, "scalers.init", "init", ScalerInit.Resized);
        var scalerScales = r.Scales(s, "scalers.learning_rate_scale", templates: false);
        var depthMapping = r.Enum(s, "scalers.depth", "depth", DepthMapping.Interpolate);
        var widthMapping = r.Enum(s, "scalers.width", "width", WidthMapping.Interpolate);
        var reference = r.Enum(s, "scalers.reference", "reference", ScalerReference.Teacher);

        var methods = r.List(root, "methods", Methods.All, m => Methods.All.Contains(m) ? null : $"unknown method '{m}' (use {string.Join(", ", Methods.All)})");
        if (methods.Count == 0) r.Problem("methods: at least one method is needed");

        var f = r.Map(root, "finetune");
        r.Known(f, "finetune", "epochs", "batch_size", "curve_points", "learning_rate", "warmup_steps", "perturb", "augmentation");
        int batch = r.Int(f, "finetune.batch_size", "batch_size", 128, min: 1);
        int stage3Steps = (int)Math.Round(r.Double(f, "finetune.epochs", "epochs", 0.5, min: 0) * TrainCount(dataset) / batch);
        int curvePoints = r.Int(f, "finetune.curve_points", "curve_points", 4, min: 0);
        var augmentation = r.Enum(f, "finetune.augmentation", "augmentation", Augmentation.None);
        var rates = r.Map(f, "learning_rate", "finetune.learning_rate");
        r.Known(rates, "finetune.learning_rate", Methods.All);
        var defaults = new Dictionary<string, double> { [Methods.Wave] = 5e-4, [Methods.Scratch] = 1e-3, [Methods.WeightSelection] = 5e-4 };
        // Warm-up in steps per method. Without the key, initialised models warm up over 100 steps (ablation f3), at most
        // half of a short budget; a warmup_steps mapping replaces that default, and a method it does not name warms up
        // over 5% of its steps (`warmup_steps: {}` gives every method the 5%).
        int initialisedWarmup = Math.Min(100, stage3Steps / 2);
        var defaultWarmups = f.Children.ContainsKey(new YamlScalarNode("warmup_steps"))
            ? new Dictionary<string, int>()
            : new Dictionary<string, int> { [Methods.Wave] = initialisedWarmup, [Methods.WeightSelection] = initialisedWarmup };
        var warmups = r.Map(f, "warmup_steps", "finetune.warmup_steps");
        r.Known(warmups, "finetune.warmup_steps", Methods.All);
        // Noise added to each weight matrix before stage 3, relative to its RMS, per method (not set: none).
        var perturbs = r.Map(f, "perturb", "finetune.perturb");
        r.Known(perturbs, "finetune.perturb", Methods.All);
        var plans = methods.Select(m => new MethodPlan(m, new TrainSettings(stage3Steps, batch,
            r.Double(rates, $"finetune.learning_rate.{m}", m, defaults[m], min: 1e-9), Augmentation: augmentation,
            WarmupSteps: r.OptionalInt(warmups, $"finetune.warmup_steps.{m}", m, min: 0) ?? (defaultWarmups.TryGetValue(m, out var w) ? w : null),
            Perturb: r.OptionalDouble(perturbs, $"finetune.perturb.{m}", m, min: 0)))).ToList();

        var promotionNode = r.Map(root, "promotion");
        r.Known(promotionNode, "promotion", "min_accuracy", "beat", "tolerance");
        double minAccuracy = r.Double(promotionNode, "promotion.min_accuracy", "min_accuracy", 0, min: 0);
        double tolerance = r.Double(promotionNode, "promotion.tolerance", "tolerance", 0.005, min: 0);
        if (minAccuracy > 1) r.Problem($"promotion.min_accuracy: a fraction between 0 and 1 (0.85 is 85%), got {minAccuracy}");
        if (tolerance > 1) r.Problem($"promotion.tolerance: a fraction between 0 and 1 (0.01 is one point), got {tolerance}");
        var beat = r.List(promotionNode, "beat", [Methods.Scratch], m => Methods.All.Contains(m) ? null : $"unknown method '{m}' (use {string.Join(", ", Methods.All)})",
            "promotion.beat");
        var promotion = new PromotionPolicy { MinAccuracy = minAccuracy, Beat = beat, Tolerance = tolerance };

        var targets = new List<ModelSize>();
        if (root.Children.TryGetValue(new YamlScalarNode("targets"), out var targetsNode))
        {
            if (targetsNode is not YamlSequenceNode seq) r.Problem("targets: expected a list of sizes such as 2x64x2");
            else for (int i = 0; i < seq.Children.Count; i++)
                if (r.SizeNode(seq.Children[i], $"targets[{i}]", templates.Size) is { } size) targets.Add(size);
        }
        else targets.AddRange([new(2, 64, 2), new(3, 96, 3), new(6, 96, 3), new(8, 128, 4)]);
        if (targets.Count == 0) r.Problem("targets: at least one target size is needed");
        foreach (var dup in targets.GroupBy(x => x).Where(g => g.Count() > 1)) r.Problem($"targets: {dup.Key.Slug} is listed {dup.Count()} times");

        var pipeline = new PipelineDefinition
        {
            Family = family, Data = new DatasetRef(dataset, dataPath), Auxiliary = auxiliary, Templates = templates,
            Distill = distill, DistillScales = distillScales, Temperature = temperature,
            Scalers = scalers, ScalerSubset = subset, ScalerInit = scalerInit, ScalerScales = scalerScales,
            ScalerDepth = depthMapping == DepthMapping.Interpolate ? null : depthMapping,
            ScalerWidth = widthMapping == WidthMapping.Interpolate ? null : widthMapping,
            ScalerReference = reference == ScalerReference.Teacher ? null : reference,
            Targets = targets, Methods = plans, CurvePoints = curvePoints, Seed = seed, Promotion = promotion,
        };
        return new RunConfig(teacher, pipeline);
    }

    /// <summary>Reads values off YAML nodes, collecting problems instead of stopping at the first.</summary>
    sealed class Reader
    {
        public List<string> Problems { get; } = [];

        public void Problem(string text) => Problems.Add(text);

        public YamlMappingNode Map(YamlMappingNode parent, string key, string? path = null)
        {
            if (!parent.Children.TryGetValue(new YamlScalarNode(key), out var node) || IsNull(node)) return new YamlMappingNode();
            if (node is YamlMappingNode map) return map;
            Problem($"{path ?? key}: expected a mapping of keys");
            return new YamlMappingNode();
        }

        public void Known(YamlMappingNode map, string path, params string[] keys)
        {
            foreach (var k in map.Children.Keys)
            {
                var name = (k as YamlScalarNode)?.Value ?? k.ToString();
                if (keys.Contains(name)) continue;
                var close = keys.OrderBy(x => Distance(x, name)).FirstOrDefault();
                var hint = close is not null && Distance(close, name) <= 3 ? $" (did you mean '{close}'?)" : "";
                Problem($"unknown key '{(path.Length == 0 ? name : path + "." + name)}'{hint}");
            }
        }

        /// <summary>The key's text, null when absent; a list or mapping where a value belongs is a problem (reported once).</summary>
        string? Scalar(YamlMappingNode map, string key, string path, string expected)
        {
            if (!map.Children.TryGetValue(new YamlScalarNode(key), out var node) || IsNull(node)) return null;
            if (node is YamlScalarNode scalar) return scalar.Value;
            var kind = node is YamlSequenceNode ? "a list" : "a mapping";
            Problem($"{path}: expected {expected}, got {kind} (line {node.Start.Line})");
            return null;
        }

        static bool IsNull(YamlNode node) => node is YamlScalarNode { Value: null or "" or "null" or "~" };

        public string? String(YamlMappingNode map, string path, string key, string? fallback) => Scalar(map, key, path, "text") ?? fallback;

        public string Choice(YamlMappingNode map, string path, string key, string fallback, string[] allowed)
        {
            var v = Scalar(map, key, path, $"one of {string.Join(", ", allowed)}") ?? fallback;
            if (allowed.Contains(v)) return v;
            Problem($"{path}: '{v}' is not one of {string.Join(", ", allowed)}");
            return fallback;
        }

        /// <summary>An enum written in snake_case ("weight_selection"); anything else is a problem naming the allowed values.</summary>
        public T Enum<T>(YamlMappingNode map, string path, string key, T fallback) where T : struct, System.Enum
        {
            var names = System.Enum.GetValues<T>().ToDictionary(v => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()));
            var text = Choice(map, path, key, names.First(kv => kv.Value.Equals(fallback)).Key, [.. names.Keys]);
            return names[text];
        }

        /// <summary>
        /// Learning-rate multipliers per parameter group (null when every one is 1); stage 2 has no templates key. A key
        /// left out takes 1, the scalers' key <paramref name="scalers"/>.
        /// </summary>
        public LearningRateScales? Scales(YamlMappingNode parent, string path, bool templates, double scalers = 1)
        {
            var map = Map(parent, "learning_rate_scale", path);
            string[] keys = templates ? ["templates", "scalers", "vectors", "embeddings"] : ["scalers", "vectors", "embeddings"];
            Known(map, path, keys);
            double Get(string k, double fallback = 1) => Double(map, $"{path}.{k}", k, fallback, min: 0);
            var scales = new LearningRateScales(templates ? Get("templates") : 1, Get("scalers", scalers), Get("vectors"), Get("embeddings"));
            return scales == new LearningRateScales() ? null : scales;
        }

        public long Long(YamlMappingNode map, string key, long fallback)
        {
            var v = Scalar(map, key, key, "a whole number");
            if (v is null) return fallback;
            if (long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x)) return x;
            Problem($"{key}: expected a whole number, got '{v}'");
            return fallback;
        }

        public int Int(YamlMappingNode map, string path, string key, int fallback, int min) => OptionalInt(map, path, key, min) ?? fallback;

        public int? OptionalInt(YamlMappingNode map, string path, string key, int min = 1)
        {
            var v = Scalar(map, key, path, "a whole number");
            if (v is null) return null;
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x)) { Problem($"{path}: expected a whole number, got '{v}'"); return null; }
            if (x < min) { Problem($"{path}: must be at least {min}, got {x}"); return null; }
            return x;
        }

        public double Double(YamlMappingNode map, string path, string key, double fallback, double min) =>
            OptionalDouble(map, path, key, min) ?? fallback;

        public double? OptionalDouble(YamlMappingNode map, string path, string key, double min)
        {
            var v = Scalar(map, key, path, "a number");
            if (v is null) return null;
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x))
            {
                Problem($"{path}: expected a number, got '{v}'");
                return null;
            }
            if (x < min) { Problem($"{path}: must be at least {min}, got {x}"); return null; }
            return x;
        }

        public List<string> List(YamlMappingNode map, string key, IEnumerable<string> fallback, Func<string, string?> check, string? path = null)
        {
            path ??= key;
            if (!map.Children.TryGetValue(new YamlScalarNode(key), out var node) || IsNull(node)) return [.. fallback];
            if (node is not YamlSequenceNode seq) { Problem($"{path}: expected a list"); return [.. fallback]; }
            var items = new List<string>();
            foreach (var item in seq.Children)
            {
                var v = (item as YamlScalarNode)?.Value ?? "";
                if (check(v) is { } problem) Problem($"{path}: {problem}");
                else if (!items.Contains(v)) items.Add(v);
            }
            return items;
        }

        public ModelSize Size(YamlMappingNode map, string path, string key, ModelSize fallback, int? templateSize) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var node) && !IsNull(node)
                ? SizeNode(node, path, templateSize) ?? fallback
                : fallback;

        /// <summary>A size written as "LxDxH" or as a mapping {depth, width, heads}, with every rule a size must meet.</summary>
        public ModelSize? SizeNode(YamlNode node, string path, int? templateSize)
        {
            ModelSize size;
            if (node is YamlScalarNode { Value: { } text })
            {
                if (!ModelSize.TryParse(text, out size)) { Problem($"{path}: '{text}' is not a size; write depth x width x heads, e.g. 6x128x4"); return null; }
            }
            else if (node is YamlMappingNode map)
            {
                Known(map, path, "depth", "width", "heads");
                int? d = OptionalInt(map, $"{path}.depth", "depth"), w = OptionalInt(map, $"{path}.width", "width"), h = OptionalInt(map, $"{path}.heads", "heads");
                if (d is null || w is null || h is null) { Problem($"{path}: depth, width and heads are all needed"); return null; }
                size = new ModelSize(d.Value, w.Value, h.Value);
            }
            else { Problem($"{path}: expected a size such as 6x128x4"); return null; }

            int before = Problems.Count;
            if (size.Depth < 1) Problem($"{path}: depth must be at least 1, got {size.Depth}");
            if (size.Width < 1 || size.Heads < 1) Problem($"{path}: width and heads must be positive");
            else if (size.Width % size.Heads != 0) Problem($"{path}: heads ({size.Heads}) must divide width ({size.Width})");
            if (templateSize is > 0 && size.Width % templateSize.Value != 0)
                Problem($"{path}: width {size.Width} is not a multiple of the template size {templateSize}");
            return Problems.Count == before ? size : null;
        }

        static int Distance(string a, string b)
        {
            var d = new int[a.Length + 1, b.Length + 1];
            for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
            for (int j = 0; j <= b.Length; j++) d[0, j] = j;
            for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            return d[a.Length, b.Length];
        }
    }
}
