namespace WaveMesh.Control;

/// <summary>Names this service's assembly for hosts and tests (WebApplicationFactory&lt;ControlServiceHost&gt;).</summary>
public sealed class ControlServiceHost;
