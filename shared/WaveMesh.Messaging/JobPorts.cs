using WaveMesh.Contracts;

namespace WaveMesh.Messaging;

/// <summary>What a worker answers a delivered job; transports map it to ack, retry or drop.</summary>
public enum Offer
{
    /// <summary>Claimed and running in the background: acknowledge, so the broker never redelivers a running job.</summary>
    Accepted,
    /// <summary>Already done (its recorded result was published again) or held by a live lease elsewhere: acknowledge.</summary>
    AlreadyHandled,
    /// <summary>No slot came free within the worker's slot wait: the job was published again, to the back of its queue; acknowledge.</summary>
    HandedBack,
    /// <summary>The worker is stopping (or the delivery was abandoned) before a slot came free: deliver it again, elsewhere.</summary>
    Busy,
    /// <summary>Not a job this worker runs, or unreadable: drop it to the dead-letter topic.</summary>
    Rejected,
}

/// <summary>
/// Where a transport hands the jobs it receives: the port between a broker adapter (Dapr subscription, MassTransit
/// consumer, the in-process bus) and the worker behind it, which knows nothing of the broker.
/// </summary>
public interface IJobOffer
{
    /// <summary>The stages whose jobs this worker takes (their topics or queues are what the transport subscribes to).</summary>
    IEnumerable<string> Stages { get; }

    /// <summary>Takes or refuses one delivered job; never throws for a job that failed (failures become events).</summary>
    Task<Offer> OfferAsync(StageJob job, CancellationToken cancellation = default);
}

/// <summary>Where a job goes when it failed for good (a dead-letter topic or queue).</summary>
public interface IDeadLetters
{
    Task SendAsync(StageJob job, string reason, CancellationToken cancellation = default);
}
