namespace WaveMesh.Distiller;

/// <summary>Names this service's assembly for hosts and tests (WebApplicationFactory&lt;DistillerService&gt;).</summary>
public sealed class DistillerService;
