using TorchSharp;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>Where and how tensors run: device (cpu, cuda, cuda:N), CPU thread count (0 keeps libtorch's default) and the seed.</summary>
public sealed record EngineOptions(string Device = "cpu", int Threads = 0, long Seed = 0);

/// <summary>Applies <see cref="EngineOptions"/> once per process and resolves the device, with a clear error when it is not there.</summary>
public static class EngineRuntime
{
    public static Device Configure(EngineOptions options)
    {
        if (options.Threads < 0) throw new ArgumentException($"threads must be 0 (default) or positive, got {options.Threads}");
        if (options.Threads > 0) set_num_threads(options.Threads);
        var device = ResolveDevice(options.Device);
        random.manual_seed(options.Seed);
        if (device.type == DeviceType.CUDA) cuda.manual_seed_all(options.Seed);
        return device;
    }

    public static Device ResolveDevice(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (n == "cuda" || n.StartsWith("cuda:"))
        {
            if (!cuda.is_available())
                throw new ArgumentException($"device '{name}' requested but CUDA is not available: build with -p:WaveMeshTorchBackend=cuda on a machine with an NVIDIA driver, or use --device cpu");
            return new Device(n);
        }
        throw new ArgumentException($"unknown device '{name}': use cpu, cuda or cuda:N");
    }
}
