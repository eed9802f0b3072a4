using System.Diagnostics;
using System.Text.Json;
using WaveMesh.Contracts;
using WaveMesh.Models;
using WaveMesh.Safetensors;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Stages.Tests;

/// <summary>
/// A model WaveMesh trained, exported as a timm hub folder, evaluated by a PyTorch script that reads only config.json and
/// model.safetensors (tests/python/evaluate_timm_folder.py: no WaveMesh code, Debian's python3-torch), gets the test
/// accuracy WaveMesh reported; the normalisation it used is the one training recorded in the model's metadata.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Using_models_in_pytorch(ITestOutputHelper output) : IDisposable
{
    static readonly Datasets Shared = new();
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task PyTorch_alone_gets_the_accuracy_WaveMesh_reported_for_an_exported_model()
    {
        var runner = new StageRunner(folder.Context(Shared), StageRunner.AllStages());
        var trained = (TargetFinetuned)await runner.RunAsync(new FinetuneTarget(new ModelFamily(MlpRatio: 2), new ModelSize(2, 32, 2), "teacher",
            new InitSource(InitSource.Scratch), new DatasetRef(Subset: 3000, SubsetSeed: 1), new TrainSettings(150, BatchSize: 64), Seed: 1)
        { RunId = Guid.NewGuid() });
        var reported = (TargetEvaluated)await runner.RunAsync(new EvaluateModel(trained.ModelDigest, new DatasetRef(), EvaluationSubject.Teacher)
        { RunId = Guid.NewGuid() });
        var model = await folder.Store().GetFileAsync(trained.ModelDigest);
        var hub = Path.Combine(folder.Path, "hub");

        TimmHub.Export(model, hub);   // no normalisation given: the one training recorded must be there
        var python = Python(Path.Combine(ServeProcess.RepositoryRoot(), "tests", "python", "evaluate_timm_folder.py"), hub);

        var expected = Shared.Load(new DatasetRef()).Normalization;
        using (var file = SafetensorsFile.Open(model))
        {
            var recorded = InputNormalization.Of(file.Metadata)!;
            Assert.Equal(expected.Mean, recorded.Mean);
            Assert.Equal(expected.Std, recorded.Std);
            Assert.Equal("fashion-mnist", file.Metadata[MetadataKeys.Dataset]);
        }
        output.WriteLine($"WaveMesh {reported.Accuracy:P2}, PyTorch {python.Accuracy:P2} on {python.Examples} images");
        Assert.Equal(10_000, python.Examples);
        Assert.True(reported.Accuracy > 0.3, $"the tiny model learned something, chance being 10% ({reported.Accuracy:P2})");
        // The same predictions up to float rounding: at most 3 of 10,000 images may flip.
        Assert.InRange(python.Accuracy, reported.Accuracy - 3e-4, reported.Accuracy + 3e-4);
    }

    static (double Accuracy, int Examples) Python(string script, string folder)
    {
        // Debian's interpreter, which sees python3-torch (a python3 earlier on PATH, pyenv's for example, may not).
        var start = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(folder);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"python3 {script} failed (is Debian's python3-torch installed? scripts/install-deps.sh installs it): {stderr}");
        using var doc = JsonDocument.Parse(stdout);
        return (doc.RootElement.GetProperty("accuracy").GetDouble(), doc.RootElement.GetProperty("examples").GetInt32());
    }
}
