using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>
/// The teacher every test uploads: a ViT L2 D32 H2 trained for a few steps on Fashion-MNIST with the engine, saved as
/// safetensors. Made once per test process (the bytes are deterministic for the seed).
/// </summary>
public static class TinyTeacher
{
    public const int Steps = 60;
    static readonly Lazy<byte[]> bytes = new(Make, LazyThreadSafetyMode.ExecutionAndPublication);

    public static byte[] Bytes => bytes.Value;

    static byte[] Make()
    {
        TorchSharp.torch.set_num_threads(1);
        var folder = Path.Combine(Path.GetTempPath(), "wavemesh-rabbitmq-tests", "teacher-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            var data = SharedData.Datasets.Load(new Contracts.DatasetRef(Subset: Steps * 64));
            using var model = VisionTransformer.Create(new VitSpec { Depth = 2, Width = 32, Heads = 2 }, seed: 0);
            Finetuning.Train(model, data.Train, data.Normalization, TorchSharp.torch.CPU, new TrainSchedule { Steps = Steps, BatchSize = 64 }, seed: 0);
            var path = Path.Combine(folder, "teacher.safetensors");
            ModelFile.Save(model, path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
