using WaveMesh.Contracts;
using WaveMesh.Engine.Training;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Stages.Tests;

[CollectionDefinition(nameof(Measuring_memory), DisableParallelization = true)]
public sealed class Measuring_memory;

/// <summary>
/// A worker runs job after job in one process: what a job allocated must not stay resident for the next. The same tiny
/// training and evaluation, twenty times (a new seed each time, so each is new work), must level off.
/// </summary>
[Collection(nameof(Measuring_memory))]
[Trait("Category", "EndToEnd")]
public sealed class Holding_memory_between_jobs(ITestOutputHelper output) : IDisposable
{
    static readonly Datasets Shared = new();
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary>How much the resident size may still grow after the first five rounds: 40 MB (a round allocates some 100 MB).</summary>
    const long Margin = 40L << 20;

    [Fact]
    public async Task Twenty_rounds_of_the_same_tiny_job_reach_a_plateau()
    {
        var runner = new StageRunner(folder.Context(Shared), StageRunner.AllStages());
        var resident = new List<long>();
        for (int round = 0; round < 20; round++)
        {
            var trained = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(new ModelFamily(MlpRatio: 2), new ModelSize(2, 32, 2), "scratch",
                new InitSource(InitSource.Scratch), new DatasetRef(Subset: 3000, SubsetSeed: 1), new TrainSettings(30, BatchSize: 64), Seed: round)
            { RunId = Guid.NewGuid() });
            await runner.RunAsync(new EvaluateModel(trained.ModelDigest, new DatasetRef(), $"2x32x2/scratch/final") { RunId = Guid.NewGuid() });
            var snapshot = NativeHeap.Snapshot();
            resident.Add(snapshot.ResidentBytes);
            output.WriteLine($"round {round + 1}: {snapshot}");
        }

        var settled = resident.Take(5).Max();
        var later = resident.Skip(5).Max();
        Assert.True(later - settled < Margin,
            $"resident memory grew by {(later - settled) / (1 << 20)} MB after the first five rounds (allowed {Margin / (1 << 20)} MB): " +
            string.Join(", ", resident.Select(r => $"{r / (1 << 20)}")));
    }
}
