using WaveMesh.Contracts;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using WaveMesh.Stages;

namespace WaveMesh.Testing;

/// <summary>Tiny ViT checkpoints made by the engine, as bytes of a safetensors file (what a client uploads to the services or to `wavemesh serve`).</summary>
public static class Checkpoints
{
    public static readonly VitSpec TeacherSpec = new() { Depth = 2, Width = 32, Heads = 2 };

    static readonly Lazy<byte[]> trained = new(() => Make(TeacherSpec, seed: 7, steps: 40));

    /// <summary>
    /// Kept for the whole test process: a data set left to the GC frees its native tensors on the finalizer thread,
    /// concurrently with the services training in this process, and that crashes libtorch.
    /// </summary>
    static readonly Datasets Data = new();

    // One libtorch thread in the test process too: the machine has two cores and the services train beside it.
    static Checkpoints() => TorchSharp.torch.set_num_threads(1);

    /// <summary>The teacher of the end-to-end runs: L2 D32 H2 trained 40 steps on Fashion-MNIST (made once per test process).</summary>
    public static byte[] TrainedTeacher => trained.Value;

    /// <summary>An untrained ViT where accuracy does not matter.</summary>
    public static byte[] Untrained(VitSpec spec, long seed) => Make(spec, seed, steps: 0);

    static byte[] Make(VitSpec spec, long seed, int steps)
    {
        var path = Path.Combine(Path.GetTempPath(), $"wavemesh-tests-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var model = VisionTransformer.Create(spec, seed);
            if (steps > 0)
            {
                var data = Data.Load(new DatasetRef(Subset: 5000));
                Finetuning.Train(model, data.Train, data.Normalization, TorchSharp.torch.CPU,
                    new TrainSchedule { Steps = steps, BatchSize = 64, LearningRate = 2e-3 }, seed);
            }
            ModelFile.Save(model, path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
