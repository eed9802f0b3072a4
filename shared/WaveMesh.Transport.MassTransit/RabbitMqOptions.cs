namespace WaveMesh.Transport.MassTransit;

/// <summary>Where the RabbitMQ broker is and how a worker's queue behaves.</summary>
public sealed class RabbitMqOptions
{
    public const string Section = "WaveMesh:RabbitMq";

    public string Host { get; set; } = "localhost";
    public ushort Port { get; set; } = 5672;
    public string VirtualHost { get; set; } = "/";
    public string Username { get; set; } = "guest";
    public string Password { get; set; } = "guest";
    /// <summary>Prefix of queue names and of message-type exchange names, so several deployments can share a broker.</summary>
    public string QueuePrefix { get; set; } = "wavemesh";
    /// <summary>How long publishing keeps retrying while the broker is unreachable.</summary>
    public TimeSpan PublishRetryFor { get; set; } = TimeSpan.FromMinutes(5);

    public string Queue(string stage) => $"{QueuePrefix}-{stage}";
    /// <summary>The orchestrator's queue of every event.</summary>
    public string ControlQueue => $"{QueuePrefix}-control";
    /// <summary>Prefix of the exchanges MassTransit names after message types, so deployments sharing a broker stay apart.</summary>
    public string ExchangePrefix => $"{QueuePrefix}.";
    public string ErrorQueue(string stage) => $"{Queue(stage)}_error";
}
