using System.Text.Json;

namespace WaveMesh.Cli.Tests;

[Trait("Category", "EndToEnd")]
public sealed class Running_the_tool : IDisposable
{
    static readonly string TinyConfig = WaveMesh.Testing.TinyPipeline.WithTeacher();

    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    static void AssertNoStackTrace(CliResult result)
    {
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stdout);
    }

    [Fact]
    public async Task Runs_a_tiny_config_and_writes_report_json_report_md_and_the_chart()
    {
        var config = folder.Write("tiny.yaml", TinyConfig);
        var outDir = folder.PathOf("out");

        var result = await Cli.RunAsync(folder.Path, "run", "--config", config, "--out", outDir, "--store", folder.PathOf("store"), "--threads", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")));
        var targets = report.RootElement.GetProperty("targets").EnumerateArray().ToList();
        Assert.Equal(5, targets.Count);
        foreach (var t in targets)
        {
            foreach (var field in new[] { "depth", "width", "heads", "params", "steps" })
                Assert.True(t.GetProperty(field).GetInt64() > 0, $"{field} of {t}");
            Assert.Contains(t.GetProperty("method").GetString(), new[] { "wave", "scratch", "weight_selection" });
            Assert.InRange(t.GetProperty("accuracy_at_init").GetDouble(), 0, 1);
            Assert.InRange(t.GetProperty("accuracy_final").GetDouble(), 0, 1);
            Assert.True(t.GetProperty("seconds").GetDouble() >= 0);
        }
        Assert.Equal(["1x16x1 scratch", "1x16x1 wave", "1x16x1 weight_selection", "2x48x3 scratch", "2x48x3 wave"],
            targets.Select(t => $"{t.GetProperty("depth")}x{t.GetProperty("width")}x{t.GetProperty("heads")} {t.GetProperty("method").GetString()}").Order());
        var markdown = await File.ReadAllTextAsync(Path.Combine(outDir, "report.md"));
        Assert.Contains("accuracy.png", markdown);
        var png = await File.ReadAllBytesAsync(Path.Combine(outDir, "accuracy.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.Take(4));
        Assert.Empty(result.Stderr.Trim());
    }

    [Fact]
    public async Task Init_trains_one_size_from_a_runs_templates_and_writes_a_ready_to_train_checkpoint()
    {
        var config = folder.Write("tiny.yaml", TinyConfig.Replace("targets: [1x16x1, 2x48x3]", "targets: [1x16x1]\nmethods: [wave]"));
        var store = folder.PathOf("store");
        var run = await Cli.RunAsync(folder.Path, "run", "--config", config, "--out", folder.PathOf("out"), "--store", store, "--threads", "1");
        Assert.True(run.ExitCode == 0, run.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(folder.PathOf("out", "report.json")));
        var digest = report.RootElement.GetProperty("templates").GetProperty("digest").GetString()!;
        // A user's copy of the templates file, outside the store.
        var templates = folder.PathOf("templates.safetensors");
        File.Copy(Path.Combine(store, "objects", digest[..2], digest), templates);
        var model = folder.PathOf("model", "L3-D32.safetensors");

        var init = await Cli.RunAsync(folder.Path, "init", "--templates", templates, "--depth", "3", "--width", "32", "--heads", "2",
            "--out", model, "--store", store, "--steps", "5", "--subset", "500", "--threads", "1");
        var inspect = await Cli.RunAsync(folder.Path, "inspect", model);
        var refused = await Cli.RunAsync(folder.Path, "init", "--templates", templates, "--depth", "3", "--width", "40", "--heads", "2",
            "--out", folder.PathOf("bad.safetensors"), "--store", store);
        var tooLarge = await Cli.RunAsync(folder.Path, "init", "--templates", templates, "--depth", "3", "--width", "32", "--heads", "2",
            "--out", folder.PathOf("large.safetensors"), "--store", store, "--subset", "500", "--batch-size", "600");

        Assert.True(init.ExitCode == 0, init.ToString());
        // It ends as the run reports a size: the model's test accuracy before any training step.
        Assert.Matches(@"Test accuracy at initialisation: \d+\.\d\d ?% \(10,000 test images\)", init.StdoutLines[^1]);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        Assert.Contains("wavemesh.normalization", inspect.Stdout);   // and records the normalisation it expects
        // A plain ViT with timm's names and the target's shapes.
        foreach (var (name, shape) in new[] { ("patch_embed.proj.weight", "[32, 1, 7, 7]"), ("cls_token", "[1, 1, 32]"), ("blocks.2.attn.qkv.weight", "[96, 32]"),
                     ("blocks.2.mlp.fc1.weight", "[128, 32]"), ("norm.weight", "[32]"), ("head.weight", "[10, 32]") })
            Assert.Contains(inspect.Stdout.Split('\n'), l => l.Contains(name) && l.Contains(shape));
        Assert.DoesNotContain("blocks.3.", inspect.Stdout);
        Assert.True(refused.ExitCode != 0, refused.ToString());
        var error = Assert.Single(refused.StderrLines);
        Assert.Contains("40", error);
        Assert.Contains("16", error);   // the template size the width must be a multiple of
        AssertNoStackTrace(refused);
        Assert.False(File.Exists(folder.PathOf("bad.safetensors")));
        // A stage-2 batch larger than its subset is refused before any work, naming the option.
        Assert.True(tooLarge.ExitCode != 0, tooLarge.ToString());
        Assert.Contains("--batch-size", Assert.Single(tooLarge.StderrLines));
        AssertNoStackTrace(tooLarge);
        Assert.False(File.Exists(folder.PathOf("large.safetensors")));
    }

    [Fact]
    public async Task Reports_every_problem_of_a_bad_config_in_one_error_line_before_any_training()
    {
        var config = folder.Write("bad.yaml", """
            finetune:
              epoch: 1
            templates: { size: 32 }
            targets: [2x40x2, 2x64x3, 2x64x2]
            scalers: { steps: many }
            methods: [wave, lora]
            """);
        var store = folder.PathOf("store");

        var result = await Cli.RunAsync(folder.Path, "run", "--config", config, "--out", folder.PathOf("out"), "--store", store);

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: ", line);
        foreach (var key in new[] { "finetune.epoch", "targets[0]", "targets[1]", "scalers.steps", "lora" })
            Assert.Contains(key, line);
        AssertNoStackTrace(result);
        Assert.False(Directory.Exists(store), "the store was created: work started before the config was checked");
    }

    [Fact]
    public async Task Stops_at_a_bad_config_before_any_training_without_a_stack_trace()
    {
        var config = folder.Write("bad.yaml", "targets: [2x40x2, 2x64x3, 2x64x2]\nmethods: [wave, lora]\n");
        var store = folder.PathOf("store");

        var result = await Cli.RunAsync(folder.Path, "run", "--config", config, "--out", folder.PathOf("out"), "--store", store);

        Assert.NotEqual(0, result.ExitCode);
        Assert.StartsWith("wavemesh: error: ", result.StderrLines[0]);
        foreach (var key in new[] { "targets[0]", "targets[1]", "lora" }) Assert.Contains(key, result.StderrLines[0]);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.False(Directory.Exists(store), "the store was created: work started before the config was checked");
    }

    [Fact]
    public async Task Names_a_config_file_that_does_not_exist()
    {
        var missing = folder.PathOf("nowhere.yaml");

        var result = await Cli.RunAsync(folder.Path, "run", "--config", missing, "--out", folder.PathOf("out"), "--store", folder.PathOf("store"));

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: ", line);
        Assert.Contains(missing, line);
        AssertNoStackTrace(result);
    }

    [Fact]
    public async Task Refuses_an_output_folder_it_cannot_create_with_a_clear_message()
    {
        var config = folder.Write("tiny.yaml", TinyConfig);
        var blocker = folder.Write("not-a-folder", "a regular file");
        var outDir = Path.Combine(blocker, "out");

        var result = await Cli.RunAsync(folder.Path, "run", "--config", config, "--out", outDir, "--store", folder.PathOf("store"));

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: cannot write the output folder ", line);
        Assert.Contains(outDir, line);
        AssertNoStackTrace(result);
        Assert.False(Directory.Exists(folder.PathOf("store")));
    }

    [Fact]
    public async Task Bench_report_only_against_a_store_without_the_teacher_says_so_and_trains_nothing()
    {
        var config = folder.Write("tiny.yaml", TinyConfig);
        var store = folder.PathOf("empty-store");

        var result = await Cli.RunAsync(folder.Path, "bench", "--config", config, "--out", folder.PathOf("results"), "--store", store,
            "--report-only", "--threads", "1");

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: --report-only reads a finished benchmark, but its teacher ", line);
        Assert.Contains("--store", line);
        Assert.DoesNotContain("finetune", result.Stdout);
        AssertNoStackTrace(result);
        // Nothing was trained: the store holds no model.
        var stored = Directory.Exists(store) ? Directory.GetFiles(store, "*", SearchOption.AllDirectories) : [];
        Assert.DoesNotContain(stored, f => f.Contains($"{Path.DirectorySeparatorChar}objects{Path.DirectorySeparatorChar}"));
    }

    [Fact]
    public async Task Bench_report_only_rewrites_the_report_from_a_finished_benchmark_without_training()
    {
        var config = folder.Write("tiny.yaml", TinyConfig);
        var store = folder.PathOf("store");
        var results = folder.PathOf("results");
        string[] bench = ["bench", "--config", config, "--out", results, "--store", store, "--sizes", "1x16x1", "--methods", "scratch",
            "--budgets", "0", "--seeds", "0", "--no-throughput", "--threads", "1"];
        var first = await Cli.RunAsync(folder.Path, bench);
        Assert.True(first.ExitCode == 0, first.ToString());
        var report = Path.Combine(results, "results.md");
        var written = await File.ReadAllTextAsync(report);
        File.Delete(report);

        var again = await Cli.RunAsync(folder.Path, [.. bench, "--report-only"]);

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("finetune", again.Stdout);
        Assert.DoesNotContain("steps", again.Stdout);
        var rewritten = await File.ReadAllTextAsync(report);
        // Every table row (cells, claims) as the benchmark wrote it; only the date and the command line differ.
        Assert.NotEmpty(Lines(written, "| "));
        Assert.Equal(Lines(written, "| "), Lines(rewritten, "| "));
    }

    static string[] Lines(string text, string prefix) => text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
}
