using System.Threading.Channels;
using WaveMesh.Artifacts;

namespace WaveMesh.Observability;

/// <summary>
/// Keeps the ledger in the shared store so it survives a restart: every change of a run is written (progress-only
/// changes at most every <paramref name="progressInterval"/>), and <see cref="LoadAsync"/> puts every run back.
/// Writes happen on a background loop, never on the thread that applied the message.
/// </summary>
public sealed class LedgerPersistence : IAsyncDisposable
{
    readonly RunLedger ledger;
    readonly IRecordStore store;
    readonly TimeSpan progressInterval;
    readonly Channel<(Guid Run, bool ProgressOnly)> changes = Channel.CreateUnbounded<(Guid, bool)>();
    readonly Dictionary<Guid, DateTime> lastWrite = [];
    readonly Task loop;
    readonly TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    const string Index = "ledger/runs";
    static string Key(Guid run) => $"ledger/run/{run}";

    public LedgerPersistence(RunLedger ledger, IRecordStore store, TimeSpan? progressInterval = null)
    {
        this.ledger = ledger;
        this.store = store;
        this.progressInterval = progressInterval ?? TimeSpan.FromSeconds(5);
        ledger.Changed += (run, entry) => changes.Writer.TryWrite((run.RunId, entry?.Status == JobStatus.Running));
        loop = Task.Run(Write);
    }

    public async Task LoadAsync(CancellationToken cancellation = default)
    {
        var ids = await store.GetRecordAsync(Index, cancellation) is { } json ? LedgerJson.Deserialize<List<Guid>>(json) : [];
        foreach (var id in ids)
            if (await store.GetRecordAsync(Key(id), cancellation) is { } run)
                ledger.Restore(LedgerJson.Deserialize<LedgerRun>(run));
        loaded.TrySetResult();
    }

    async Task Write()
    {
        // Nothing is written before the stored runs are loaded: the index written from a ledger that lacks them would
        // forget every run of earlier lifetimes.
        await Task.WhenAny(loaded.Task, changes.Reader.Completion);
        if (!loaded.Task.IsCompleted) return;
        var known = new HashSet<Guid>();
        await foreach (var (run, progressOnly) in changes.Reader.ReadAllAsync())
        {
            if (progressOnly && lastWrite.TryGetValue(run, out var at) && DateTime.UtcNow - at < progressInterval) continue;
            try
            {
                if (ledger.Json(run) is not { } json) continue;
                await store.SetRecordAsync(Key(run), json);
                lastWrite[run] = DateTime.UtcNow;
                if (known.Add(run)) await store.SetRecordAsync(Index, LedgerJson.Serialize(ledger.Runs().Select(r => r.RunId).ToList()));
            }
            catch (Exception) when (!changes.Reader.Completion.IsCompleted)
            {
                // A failed write is retried with the run's next change; the ledger in memory is intact.
            }
        }
    }

    /// <summary>Writes whatever is pending, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        changes.Writer.TryComplete();
        await loop;
    }
}

/// <summary>Fans ledger changes out to live readers (server-sent events); a slow reader loses old updates, never blocks.</summary>
public sealed class LedgerFeed
{
    readonly List<Channel<Guid>> readers = [];

    public LedgerFeed(RunLedger ledger)
    {
        ledger.Changed += (run, _) =>
        {
            lock (readers) foreach (var r in readers) r.Writer.TryWrite(run.RunId);
        };
    }

    /// <summary>
    /// Starts listening at once: every change from this call on reaches the subscription's reader, so a caller can
    /// subscribe, tell its client it is connected, and then read without missing a change made in between.
    /// </summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateBounded<Guid>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (readers) readers.Add(channel);
        return new Subscription(this, channel);
    }

    /// <summary>One listener's queue of changed run ids (the oldest dropped beyond 256); disposing it stops listening.</summary>
    public sealed class Subscription(LedgerFeed feed, Channel<Guid> channel) : IDisposable
    {
        public ChannelReader<Guid> Reader => channel.Reader;

        public void Dispose()
        {
            lock (feed.readers) feed.readers.Remove(channel);
        }
    }
}
