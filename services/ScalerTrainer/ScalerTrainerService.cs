namespace WaveMesh.ScalerTrainer;

/// <summary>Names this service's assembly for hosts and tests (WebApplicationFactory&lt;ScalerTrainerService&gt;).</summary>
public sealed class ScalerTrainerService;
