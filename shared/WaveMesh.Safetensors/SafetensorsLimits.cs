namespace WaveMesh.Safetensors;

/// <summary>Upper bounds enforced while reading a header, so that a hostile file cannot exhaust memory.</summary>
/// <param name="MaxHeaderBytes">Largest accepted JSON header, in bytes (checked before anything is allocated).</param>
/// <param name="MaxTensors">Largest accepted number of tensor entries.</param>
public sealed record SafetensorsLimits(long MaxHeaderBytes = 100_000_000, int MaxTensors = 1_000_000)
{
    /// <summary>100 MB of header and one million tensors, the bounds of the reference implementation.</summary>
    public static SafetensorsLimits Default { get; } = new();
}
