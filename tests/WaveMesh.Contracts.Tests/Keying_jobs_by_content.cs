using System.Text.Json;

namespace WaveMesh.Contracts.Tests;

public sealed class Keying_jobs_by_content
{
    /// <summary>Every job with each of its content fields changed in turn (nested records included), named by the field.</summary>
    static IEnumerable<(string Field, StageJob Job)> Variants(StageJob job) => job switch
    {
        DistillTemplates d =>
        [
            ("teacher_digest", d with { TeacherDigest = Samples.DigestB }),
            ("family.patch_size", d with { Family = d.Family with { PatchSize = 8 } }),
            ("family.pooling", d with { Family = d.Family with { Pooling = Pooling.Token } }),
            ("auxiliary.depth", d with { Auxiliary = d.Auxiliary with { Depth = 5 } }),
            ("auxiliary.heads", d with { Auxiliary = d.Auxiliary with { Heads = 8 } }),
            ("templates.size", d with { Templates = d.Templates with { Size = 32 } }),
            ("templates.embedding", d with { Templates = d.Templates with { Embedding = 5 } }),
            ("data.name", d with { Data = d.Data with { Name = "fashion-mnist" } }),
            ("data.subset", d with { Data = d.Data with { Subset = null } }),
            ("data.subset_seed", d with { Data = d.Data with { SubsetSeed = 8 } }),
            ("training.steps", d with { Training = d.Training with { Steps = 301 } }),
            ("training.learning_rate", d with { Training = d.Training with { LearningRate = 3.0001e-3 } }),
            ("training.augmentation", d with { Training = d.Training with { Augmentation = Augmentation.None } }),
            ("temperature", d with { Temperature = 2.5 }),
            ("seed", d with { Seed = 4 }),
            ("scales", d with { Scales = new LearningRateScales(Scalers: 10) }),
            ("templates.carry", d with { Templates = d.Templates with { Carry = new CarrySettings(Vectors: Carry.Scalers) } }),
        ],
        TrainScalers s =>
        [
            ("teacher_digest", s with { TeacherDigest = Samples.DigestC }),
            ("templates_digest", s with { TemplatesDigest = Samples.DigestA }),
            ("aux_scalers_digest", s with { AuxScalersDigest = Samples.DigestB }),
            ("target.width", s with { Target = s.Target with { Width = 192 } }),
            ("init", s with { Init = ScalerInit.Random }),
            ("data.path", s with { Data = s.Data with { Path = "/elsewhere" } }),
            ("training.batch_size", s with { Training = s.Training with { BatchSize = 128 } }),
            ("training.weight_decay", s with { Training = s.Training with { WeightDecay = 0.05 } }),
            ("temperature", s with { Temperature = 1.0 }),
            ("seed", s with { Seed = 5 }),
            ("scales", s with { Scales = new LearningRateScales(Embeddings: 0) }),
            ("reference", s with { Reference = ScalerReference.Auxiliary }),
            ("depth", s with { Depth = DepthMapping.Nearest }),
            ("width", s with { Width = WidthMapping.Select }),
        ],
        FinetuneTarget f =>
        [
            ("family.classes", f with { Family = f.Family with { Classes = 100 } }),
            ("target.depth", f with { Target = f.Target with { Depth = 3 } }),
            ("method", f with { Method = "scratch" }),
            ("init.kind", f with { Init = f.Init with { Kind = InitSource.WeightSelection } }),
            ("init.digest", f with { Init = f.Init with { Digest = Samples.DigestC } }),
            ("data.subset", f with { Data = f.Data with { Subset = 4999 } }),
            ("training.warmup_fraction", f with { Training = f.Training with { WarmupFraction = 0.05 } }),
            ("training.warmup_steps", f with { Training = f.Training with { WarmupSteps = 0 } }),
            ("seed", f with { Seed = 6 }),
            ("curve_points", f with { CurvePoints = 5 }),
        ],
        EvaluateModel e =>
        [
            ("model_digest", e with { ModelDigest = Samples.DigestA }),
            ("data.subset", e with { Data = e.Data with { Subset = null } }),
            ("subject", e with { Subject = "2x64x2/wave/init" }),
        ],
        _ => throw new ArgumentException(job.GetType().Name),
    };

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Gives_the_same_key_to_the_same_content_whatever_its_id_run_and_cause(string type)
    {
        var job = (StageJob)Samples.Message(type);
        var again = job with { Id = Guid.NewGuid(), RunId = Guid.NewGuid(), CausationId = Guid.NewGuid() };
        var noCause = job with { Id = Guid.NewGuid(), RunId = Guid.Empty, CausationId = null };

        Assert.NotEqual(job.Id, again.Id);
        Assert.Equal(job.Key, again.Key);
        Assert.Equal(job.Key, noCause.Key);
    }

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Gives_the_same_key_to_a_job_built_separately_from_equal_values(string type)
    {
        var first = (StageJob)Samples.Message(type);
        var second = (StageJob)Samples.Message(type);

        Assert.NotSame(first, second);
        Assert.Equal(first.Key, second.Key);
    }

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Gives_a_different_key_when_any_content_field_changes(string type)
    {
        var job = (StageJob)Samples.Message(type);
        var variants = Variants(job).ToList();

        foreach (var (field, variant) in variants)
            Assert.True(variant.Key != job.Key, $"changing {field} of {type} kept the key {job.Key}");
        var keys = variants.Select(v => v.Job.Key).Append(job.Key).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Fact]
    public void Covers_every_content_property_of_every_job_in_the_variants_above()
    {
        // Guards the test above: a new content field on a job must get a variant there.
        var envelopeFields = new[] { "id", "created_at", "run_id", "causation_id", "schema_version", "stage" };
        foreach (var type in MessageTypes.Jobs)
        {
            var job = Samples.Job(type);
            // Every serialised property, including optional ones left out of the JSON while null.
            var contentFields = type.GetProperties()
                .Where(p => p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), true)
                    .Cast<System.Text.Json.Serialization.JsonIgnoreAttribute>().All(a => a.Condition != System.Text.Json.Serialization.JsonIgnoreCondition.Always))
                .Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name)).Except(envelopeFields).ToHashSet();
            var covered = Variants(job).Select(v => v.Field.Split('.')[0]).ToHashSet();
            Assert.True(contentFields.SetEquals(covered),
                $"{type.Name}: content fields [{string.Join(", ", contentFields.Order())}], variants cover [{string.Join(", ", covered.Order())}]");
        }
    }

    [Fact]
    public void Gives_different_keys_to_jobs_of_different_stages()
    {
        var keys = MessageTypes.Jobs.Select(t => Samples.Job(t).Key).ToList();

        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Writes_keys_as_lower_case_sha256_hex(string type)
    {
        var key = ((StageJob)Samples.Message(type)).Key;

        Assert.Matches("^[0-9a-f]{64}$", key);
    }

    [Fact]
    public void Keeps_the_key_out_of_the_job_json()
    {
        var json = ContractJson.Serialize(Samples.Finetune());

        Assert.DoesNotContain("\"key\"", json);
        Assert.Contains("\"curve_points\":4", json);
    }

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Names_the_stage_that_runs_each_job(string type)
    {
        var job = (StageJob)Samples.Message(type);
        var expected = type switch
        {
            nameof(DistillTemplates) => StageNames.Distill,
            nameof(TrainScalers) => StageNames.Scalers,
            nameof(FinetuneTarget) => StageNames.Finetune,
            _ => StageNames.Evaluate,
        };

        Assert.Equal(expected, job.Stage);
        Assert.Contains(job.Stage, StageNames.All);
        Assert.False(string.IsNullOrWhiteSpace(job.Describe()));
        Assert.DoesNotContain('\n', job.Describe());
    }
}
