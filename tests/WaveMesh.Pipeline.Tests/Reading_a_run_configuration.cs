using WaveMesh.Contracts;

namespace WaveMesh.Pipeline.Tests;

public sealed class Reading_a_run_configuration
{
    static ConfigException Problems(string yaml) => Assert.Throws<ConfigException>(() => RunConfig.Parse(yaml, "test.yaml"));

    static string Json(RunConfig config) => ContractJson.Serialize(config);

    [Fact]
    public void Gives_the_documented_defaults_for_an_empty_document()
    {
        var config = RunConfig.Parse("", null);
        var p = config.Pipeline;

        Assert.Equal(Json(config), Json(RunConfig.Parse("{}", null)));
        Assert.Equal(Json(config), Json(RunConfig.Default));
        Assert.Null(config.Teacher.File);
        Assert.Null(config.Teacher.Heads);
        Assert.Equal(new ModelSize(6, 128, 4), config.Teacher.Size);
        Assert.Equal(3 * (60_000 / 128), config.Teacher.Training.Steps);
        Assert.Equal(1e-3, config.Teacher.Training.LearningRate);
        Assert.Equal(Augmentation.None, config.Teacher.Training.Augmentation);
        Assert.Equal(new DatasetRef("fashion-mnist"), p.Data);
        Assert.Equal(new ModelFamily(28, 1, 7, 4, 10, Pooling.Token), p.Family);
        Assert.Equal(new TemplateSettings(32, 64, 4, 8), p.Templates);
        Assert.Equal(new ModelSize(4, 128, 4), p.Auxiliary);
        Assert.Equal(new TrainSettings((int)Math.Round(3 * 60_000 / 128.0), 128, 5e-4), p.Distill);
        Assert.Equal(new LearningRateScales(Scalers: 10), p.DistillScales);
        Assert.Equal(1.0, p.Temperature);
        Assert.Equal(new TrainSettings(300, 128, LearningRate: 0.03, WeightDecay: 0), p.Scalers);
        Assert.Equal(20000, p.ScalerSubset);
        Assert.Equal(ScalerInit.Resized, p.ScalerInit);
        Assert.Equal(Methods.All, p.Methods.Select(m => m.Method));
        var stage3 = (int)Math.Round(0.5 * 60_000 / 128);
        Assert.Equal(new MethodPlan(Methods.Wave, new TrainSettings(stage3, 128, 5e-4, WarmupSteps: 100)), p.Methods[0]);
        Assert.Equal(new MethodPlan(Methods.Scratch, new TrainSettings(stage3, 128, 1e-3)), p.Methods[1]);
        Assert.Equal(new MethodPlan(Methods.WeightSelection, new TrainSettings(stage3, 128, 5e-4, WarmupSteps: 100)), p.Methods[2]);
        Assert.Equal([new ModelSize(2, 64, 2), new ModelSize(3, 96, 3), new ModelSize(6, 96, 3), new ModelSize(8, 128, 4)], p.Targets);
        Assert.Equal(4, p.CurvePoints);
        Assert.Equal(0, p.Seed);
    }

    [Fact]
    public void Parses_configs_default_yaml_to_the_built_in_default()
    {
        var path = Path.Combine(Repository.Root, "configs", "default.yaml");

        var config = RunConfig.Load(path);

        Assert.Equal(Json(RunConfig.Default), Json(config));
    }

    [Fact]
    public void Reads_every_key_of_a_full_document()
    {
        var config = RunConfig.Parse("""
            seed: 5
            data: { dataset: cifar-10, path: /data/cifar }
            family: { patch_size: 4, mlp_ratio: 2, pooling: mean }
            templates: { size: 16, matrix: 4, vector: 2, embedding: 4 }
            teacher: { size: 2x32x2, heads: 2, epochs: 0.05, learning_rate: 0.002, augmentation: crop_flip }
            auxiliary: 2x32x2
            distill: { epochs: 0.03, learning_rate: 0.001, temperature: 2, batch_size: 64 }
            scalers: { steps: 15, subset: 1000, learning_rate: 0.01, init: random }
            methods: [wave, scratch]
            finetune: { epochs: 0.01, batch_size: 100, curve_points: 2, augmentation: crop_flip, learning_rate: { wave: 0.0001, scratch: 0.003 } }
            targets: [1x16x1, 2x48x3]
            """, null);
        var p = config.Pipeline;

        Assert.Equal(5, p.Seed);
        Assert.Equal(new DatasetRef("cifar-10", "/data/cifar"), p.Data);
        Assert.Equal(new ModelFamily(32, 3, 4, 2, 10, Pooling.Mean), p.Family);
        Assert.Equal(new TemplateSettings(16, 4, 2, 4), p.Templates);
        Assert.Equal(new TeacherPlan(null, 2, new ModelSize(2, 32, 2), new TrainSettings((int)Math.Round(0.05 * (50_000 / 128)), LearningRate: 0.002,
            Augmentation: Augmentation.CropFlip), 5), config.Teacher);
        Assert.Equal(new ModelSize(2, 32, 2), p.Auxiliary);
        Assert.Equal(new TrainSettings((int)Math.Round(0.03 * 50_000 / 64), 64, 0.001), p.Distill);
        Assert.Equal(2.0, p.Temperature);
        Assert.Equal(new TrainSettings(15, LearningRate: 0.01, WeightDecay: 0), p.Scalers);
        Assert.Equal(1000, p.ScalerSubset);
        Assert.Equal(ScalerInit.Random, p.ScalerInit);
        Assert.Equal([new MethodPlan(Methods.Wave, new TrainSettings(5, 100, 0.0001, Augmentation: Augmentation.CropFlip, WarmupSteps: 2)),
            new MethodPlan(Methods.Scratch, new TrainSettings(5, 100, 0.003, Augmentation: Augmentation.CropFlip))], p.Methods);
        Assert.Equal(2, p.CurvePoints);
        Assert.Equal([new ModelSize(1, 16, 1), new ModelSize(2, 48, 3)], p.Targets);
    }

    [Fact]
    public void Reads_the_recipe_choices_of_stages_1_to_3()
    {
        var p = RunConfig.Parse("""
            templates: { carry: { vectors: scalers, pos_embed: shared, cls_token: shared, patch_embed: shared } }
            distill: { augmentation: crop_flip, learning_rate_scale: { scalers: 10, vectors: 2 } }
            scalers: { depth: nearest, width: select, reference: auxiliary, augmentation: crop_flip, learning_rate_scale: { scalers: 3, embeddings: 0 } }
            finetune: { warmup_steps: { wave: 0, weight_selection: 5 }, perturb: { wave: 0.1 } }
            """, null).Pipeline;

        Assert.Equal(new CarrySettings(Carry.Scalers, Carry.Shared, Carry.Shared, Carry.Shared, Carry.Templated), p.Templates.Carry);
        Assert.Equal(Augmentation.CropFlip, p.Distill.Augmentation);
        Assert.Equal(new LearningRateScales(1, 10, 2, 1), p.DistillScales);
        Assert.Equal(DepthMapping.Nearest, p.ScalerDepth);
        Assert.Equal(WidthMapping.Select, p.ScalerWidth);
        Assert.Equal(ScalerReference.Auxiliary, p.ScalerReference);
        Assert.Equal(Augmentation.CropFlip, p.Scalers.Augmentation);
        Assert.Equal(new LearningRateScales(1, 3, 1, 0), p.ScalerScales);
        Assert.Equal([0, null, 5], p.Methods.Select(m => m.Training.WarmupSteps));
        Assert.Equal([0.1, null, null], p.Methods.Select(m => m.Training.Perturb));
    }

    [Fact]
    public void A_warmup_steps_mapping_replaces_the_default_warm_up_of_initialised_models()
    {
        var none = RunConfig.Parse("finetune: { warmup_steps: {} }", null).Pipeline;
        var one = RunConfig.Parse("finetune: { warmup_steps: { weight_selection: 7 } }", null).Pipeline;
        var shortRun = RunConfig.Parse("finetune: { epochs: 0.01 }", null).Pipeline;

        Assert.Equal([null, null, null], none.Methods.Select(m => m.Training.WarmupSteps));
        Assert.Equal([null, null, 7], one.Methods.Select(m => m.Training.WarmupSteps));
        // 5 stage-3 steps: the default warm-up is at most half of them.
        Assert.Equal([2, null, 2], shortRun.Methods.Select(m => m.Training.WarmupSteps));
    }

    [Fact]
    public void Reads_the_stage_2_batch_size()
    {
        Assert.Equal(32, RunConfig.Parse("scalers: { batch_size: 32 }", null).Pipeline.Scalers.BatchSize);
    }

    [Fact]
    public void Leaves_every_recipe_choice_unset_by_default_so_job_keys_do_not_change()
    {
        var p = RunConfig.Parse("", null).Pipeline;
        Assert.Null(p.Templates.Carry);
        // Stage 1's block-matrix scalers learn at 10x by default (default-run d1); every other group at 1x.
        Assert.Equal(new LearningRateScales(1, 10, 1, 1), p.DistillScales);
        Assert.Null(RunConfig.Parse("distill: { learning_rate_scale: { scalers: 1 } }", null).Pipeline.DistillScales);
        Assert.Equal(new LearningRateScales(Vectors: 2, Scalers: 10), RunConfig.Parse("distill: { learning_rate_scale: { vectors: 2 } }", null).Pipeline.DistillScales);
        Assert.Null(p.ScalerScales);
        Assert.Null(p.ScalerDepth);
        Assert.Null(p.ScalerWidth);
        Assert.Null(p.ScalerReference);
        Assert.Equal(Augmentation.None, p.Scalers.Augmentation);
        Assert.DoesNotContain("carry", ContractJson.Serialize(p.Templates));
        // Initialised models warm up over 100 steps by default; scratch over 5% of its steps (no key in its job).
        Assert.Equal([100, null, 100], p.Methods.Select(m => m.Training.WarmupSteps));
        Assert.DoesNotContain("warmup_steps", ContractJson.Serialize(p.Methods[1].Training));
        Assert.Equal(0.03, p.Scalers.LearningRate);
        Assert.DoesNotContain("perturb", ContractJson.Serialize(p.Methods[0].Training));
    }

    [Theory]
    [InlineData("templates: { carry: { vectors: copied } }", "templates.carry.vectors: 'copied' is not one of templated, scalers, shared")]
    [InlineData("scalers: { reference: student }", "scalers.reference: 'student' is not one of teacher, auxiliary")]
    [InlineData("scalers: { learning_rate_scale: { templates: 1 } }", "unknown key 'scalers.learning_rate_scale.templates'")]
    [InlineData("distill: { learning_rate_scale: { scalers: -1 } }", "distill.learning_rate_scale.scalers: must be at least 0, got -1")]
    [InlineData("finetune: { warmup_steps: { wave: -3 } }", "finetune.warmup_steps.wave: must be at least 0, got -3")]
    [InlineData("scalers: { batch_size: 0 }", "scalers.batch_size: must be at least 1, got 0")]
    [InlineData("scalers: { batch_size: 600, subset: 500 }", "scalers.batch_size: 600 is more than the 500 images of scalers.subset")]
    [InlineData("promotion: { min_accuracy: 85 }", "promotion.min_accuracy: a fraction between 0 and 1 (0.85 is 85%), got 85")]
    [InlineData("promotion: { beat: [baseline] }", "promotion.beat: unknown method 'baseline' (use wave, scratch, weight_selection)")]
    [InlineData("promotion: { tolerance: -0.1 }", "promotion.tolerance: must be at least 0, got -0.1")]
    [InlineData("promotion: { minimum: 1 }", "unknown key 'promotion.minimum'")]
    public void Reports_a_bad_recipe_choice_with_its_key(string yaml, string expected)
    {
        Assert.Contains(expected, Problems(yaml).Problems);
    }

    [Fact]
    public void A_file_that_extends_another_overrides_only_what_it_names()
    {
        var dir = Directory.CreateTempSubdirectory("wavemesh-config-").FullName;
        File.WriteAllText(Path.Combine(dir, "base.yaml"), "seed: 3\ndistill: { epochs: 2, learning_rate: 0.001 }\ntargets: [2x64x2, 4x64x2]\n");
        Directory.CreateDirectory(Path.Combine(dir, "ablations"));
        var path = Path.Combine(dir, "ablations", "longer.yaml");
        File.WriteAllText(path, "extends: ../base.yaml\ndistill: { epochs: 4 }\ntargets: [8x64x2]\n");

        var p = RunConfig.Load(path).Pipeline;

        Assert.Equal(3, p.Seed);
        Assert.Equal(4 * 60_000 / 128, p.Distill.Steps);
        Assert.Equal(0.001, p.Distill.LearningRate);
        Assert.Equal([new ModelSize(8, 64, 2)], p.Targets);
    }

    [Fact]
    public void A_missing_or_circular_base_file_is_reported()
    {
        var dir = Directory.CreateTempSubdirectory("wavemesh-config-").FullName;
        File.WriteAllText(Path.Combine(dir, "a.yaml"), "extends: b.yaml\n");
        File.WriteAllText(Path.Combine(dir, "b.yaml"), "extends: a.yaml\n");
        File.WriteAllText(Path.Combine(dir, "c.yaml"), "extends: nowhere.yaml\n");

        Assert.Contains("extends itself", Assert.Throws<ConfigException>(() => RunConfig.Load(Path.Combine(dir, "a.yaml"))).Message);
        Assert.Contains("configuration file not found", Assert.Throws<ConfigException>(() => RunConfig.Load(Path.Combine(dir, "c.yaml"))).Message);
    }

    [Fact]
    public void Reports_an_unknown_top_level_key_with_a_did_you_mean_hint()
    {
        var error = Problems("seeds: 3\n");

        Assert.Equal(["unknown key 'seeds' (did you mean 'seed'?)"], error.Problems);
    }

    [Theory]
    [InlineData("distill:\n  epoch: 1\n", "unknown key 'distill.epoch' (did you mean 'epochs'?)")]
    [InlineData("teacher:\n  sise: 2x32x2\n", "unknown key 'teacher.sise' (did you mean 'size'?)")]
    [InlineData("finetune:\n  learning_rate:\n    wav: 0.001\n", "unknown key 'finetune.learning_rate.wav' (did you mean 'wave'?)")]
    [InlineData("targets:\n  - { depth: 2, widht: 64, heads: 2 }\n", "unknown key 'targets[0].widht' (did you mean 'width'?)")]
    [InlineData("auxiliary: { depth: 2, width: 64, heads: 2, head: 2 }\n", "unknown key 'auxiliary.head' (did you mean 'heads'?)")]
    public void Reports_an_unknown_nested_key_with_its_path_and_a_hint(string yaml, string expected)
    {
        var error = Problems(yaml);

        Assert.Contains(expected, error.Problems);
    }

    [Fact]
    public void Gives_no_hint_when_no_known_key_is_close()
    {
        var error = Problems("scalers:\n  colourfulness: 3\n");

        Assert.Equal(["unknown key 'scalers.colourfulness'"], error.Problems);
    }

    [Fact]
    public void Reports_every_problem_of_a_file_together_each_naming_its_key()
    {
        var error = Problems("""
            finetune:
              epoch: 1
            templates:
              size: 32
            targets: [2x40x2, 2x64x3, 2x64x2]
            scalers:
              steps: many
            methods: [wave, lora]
            """);

        Assert.Equal(5, error.Problems.Count);
        Assert.Contains(error.Problems, p => p.Contains("'finetune.epoch'") && p.Contains("did you mean 'epochs'"));
        Assert.Contains(error.Problems, p => p.StartsWith("targets[0]:") && p.Contains("40") && p.Contains("template size 32"));
        Assert.Contains(error.Problems, p => p.StartsWith("targets[1]:") && p.Contains("heads (3) must divide width (64)"));
        Assert.Contains(error.Problems, p => p.StartsWith("scalers.steps:") && p.Contains("'many'"));
        Assert.Contains(error.Problems, p => p.StartsWith("methods:") && p.Contains("'lora'"));
        Assert.StartsWith("test.yaml: 5 problems: ", error.Message);
        Assert.All(error.Problems, p => Assert.Contains(p, error.Message));
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Reports_a_size_that_breaks_two_rules_with_both()
    {
        var error = Problems("targets: [2x50x3, 2x64x2]\n");

        Assert.Equal(2, error.Problems.Count);
        Assert.All(error.Problems, p => Assert.StartsWith("targets[0]:", p));
    }

    [Fact]
    public void Accepts_sizes_written_as_text_or_as_mappings()
    {
        var config = RunConfig.Parse("""
            templates: { size: 16 }
            teacher:
              size: { depth: 3, width: 64, heads: 4 }
            auxiliary:
              depth: 2
              width: 32
              heads: 2
            targets:
              - 1x16x1
              - { depth: 2, width: 48, heads: 3 }
              - 4X96X6
            """, null);

        Assert.Equal(new ModelSize(3, 64, 4), config.Teacher.Size);
        Assert.Equal(new ModelSize(2, 32, 2), config.Pipeline.Auxiliary);
        Assert.Equal([new ModelSize(1, 16, 1), new ModelSize(2, 48, 3), new ModelSize(4, 96, 6)], config.Pipeline.Targets);
    }

    [Theory]
    [InlineData("targets: [6-128-4]\n", "targets[0]: '6-128-4' is not a size")]
    [InlineData("targets:\n  - { depth: 2, width: 64 }\n", "targets[0]: depth, width and heads are all needed")]
    [InlineData("auxiliary: 4x100x4\n", "auxiliary: width 100 is not a multiple of the template size 32")]
    [InlineData("targets: [0x64x2]\n", "targets[0]: depth must be at least 1")]
    [InlineData("targets: 2x64x2\n", "targets: expected a list")]
    [InlineData("targets: []\n", "targets: at least one target size is needed")]
    [InlineData("targets: [2x64x2, 2x64x2]\n", "targets: 2x64x2 is listed 2 times")]
    [InlineData("methods: []\n", "methods: at least one method is needed")]
    [InlineData("scalers: { subset: 10 }\n", "scalers.subset: must be at least 128, got 10")]
    [InlineData("teacher: { epochs: lots }\n", "teacher.epochs: expected a number, got 'lots'")]
    [InlineData("finetune: { epochs: .nan }\n", "finetune.epochs: expected a number")]
    [InlineData("seed: 1.5\n", "seed: expected a whole number, got '1.5'")]
    [InlineData("data: { dataset: mnist }\n", "data.dataset: 'mnist' is not one of fashion-mnist, cifar-10")]
    [InlineData("family: { patch_size: 5 }\n", "family.patch_size: 5 does not divide the image size 28")]
    [InlineData("scalers: { init: zeros }\n", "scalers.init: 'zeros' is not one of resized, random")]
    [InlineData("distill: 3\n", "distill: expected a mapping of keys")]
    public void Reports_a_bad_value_with_the_key_it_is_about(string yaml, string expected)
    {
        var error = Problems(yaml);

        Assert.Contains(error.Problems, p => p.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Names_the_full_path_of_a_nested_key_that_must_be_a_mapping()
    {
        var error = Problems("finetune:\n  learning_rate: 0.001\n");

        Assert.Contains(error.Problems, p => p.StartsWith("finetune.learning_rate:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("seed: 1\ndistill:\n  epochs: 1\n   temperature: 2\n", 4)]
    [InlineData("seed: 1\nseed: 2\n", 2)]
    [InlineData("seed: 1\nteacher: { size: 2x32x2\n", 3)]
    [InlineData("seed: 1\nauxiliary: \"2x32x2\n", 2)]
    public void Reports_invalid_yaml_with_its_line_and_column(string yaml, int line)
    {
        var error = Problems(yaml);

        var problem = Assert.Single(error.Problems);
        Assert.Matches($@"^not valid YAML at line {line}, column \d+: ", problem);
    }

    [Fact]
    public void Reports_an_unclosed_list_followed_by_more_keys_as_invalid_yaml()
    {
        var error = Problems("seed: 1\nteacher:\n  size: [2, 32\nauxiliary: 2x32x2\n");

        var problem = Assert.Single(error.Problems);
        Assert.StartsWith("not valid YAML", problem);
    }

    [Fact]
    public void Reports_a_list_where_a_number_belongs_without_control_characters()
    {
        var error = Problems("seed: [1, 2]\nteacher: { epochs: [1] }\n");

        Assert.Equal(2, error.Problems.Count);
        Assert.Contains(error.Problems, p => p.StartsWith("seed: expected a whole number", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("teacher.epochs: expected a number", StringComparison.Ordinal));
        Assert.DoesNotContain(error.Problems, p => p.Any(char.IsControl));
    }

    [Fact]
    public void Refuses_a_document_whose_top_level_is_not_a_mapping()
    {
        var error = Problems("- 2x64x2\n- 3x96x3\n");

        Assert.Equal(["the top level must be a mapping of keys"], error.Problems);
    }

    [Fact]
    public void Names_the_file_that_cannot_be_found()
    {
        var path = Path.Combine(Path.GetTempPath(), $"wavemesh-no-such-config-{Guid.NewGuid():N}.yaml");

        var error = Assert.Throws<FileNotFoundException>(() => RunConfig.Load(path));

        Assert.Equal(path, error.FileName);
    }

    [Fact]
    public void Names_the_file_of_a_configuration_with_problems()
    {
        var folder = Path.Combine(Path.GetTempPath(), "wavemesh-pipeline-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var path = Path.Combine(folder, "bad.yaml");
            File.WriteAllText(path, "seeed: 1\n");

            var error = Assert.Throws<ConfigException>(() => RunConfig.Load(path));

            Assert.StartsWith($"{path}: 1 problem: unknown key 'seeed'", error.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Turns_epochs_into_steps_of_the_chosen_dataset()
    {
        var fashion = RunConfig.Parse("teacher: { epochs: 0.05 }\ndistill: { epochs: 0.03 }\nfinetune: { epochs: 0.01 }\n", null);
        var cifar = RunConfig.Parse("data: { dataset: cifar-10 }\nfamily: { patch_size: 4 }\nfinetune: { epochs: 1 }\n", null);

        Assert.Equal(23, fashion.Teacher.Training.Steps);          // 0.05 x 468 batches
        Assert.Equal(14, fashion.Pipeline.Distill.Steps);          // 0.03 x 60,000 / 128
        Assert.All(fashion.Pipeline.Methods, m => Assert.Equal(5, m.Training.Steps));
        Assert.Equal(new ModelFamily(32, 3, 4, 4, 10, Pooling.Token), cifar.Pipeline.Family);
        Assert.All(cifar.Pipeline.Methods, m => Assert.Equal(391, m.Training.Steps)); // 50,000 / 128
    }

    [Fact]
    public void Reads_the_promotion_gate_and_defaults_to_at_least_scratch()
    {
        var defaults = RunConfig.Parse("{}", null).Pipeline.Promotion;
        var set = RunConfig.Parse("promotion: { min_accuracy: 0.8, beat: [scratch, weight_selection], tolerance: 0.01 }", null).Pipeline.Promotion;

        Assert.Equal(new PromotionPolicy { MinAccuracy = 0, Beat = [Methods.Scratch], Tolerance = 0.005 }, defaults);
        Assert.Equal(new PromotionPolicy { MinAccuracy = 0.8, Beat = [Methods.Scratch, Methods.WeightSelection], Tolerance = 0.01 }, set);
    }
}

/// <summary>The repository this test assembly was built from: the folder above it holding WaveMesh.sln.</summary>
static class Repository
{
    public static string Root { get; } = Find();

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "WaveMesh.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no WaveMesh.sln above {AppContext.BaseDirectory}");
    }
}
