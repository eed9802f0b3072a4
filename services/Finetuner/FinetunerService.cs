namespace WaveMesh.Finetuner;

/// <summary>Names this service's assembly for hosts and tests (WebApplicationFactory&lt;FinetunerService&gt;).</summary>
public sealed class FinetunerService;
