namespace WaveMesh.Evaluator;

/// <summary>Names this service's assembly for hosts and tests (WebApplicationFactory&lt;EvaluatorService&gt;).</summary>
public sealed class EvaluatorService;
