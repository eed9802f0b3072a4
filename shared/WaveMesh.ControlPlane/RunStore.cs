using WaveMesh.Artifacts;
using WaveMesh.Contracts;

namespace WaveMesh.ControlPlane;

/// <summary>
/// Runs as the control plane persists them: a header per run (what started it, its status) and its events, appended
/// in segments of at most <see cref="SegmentSize"/> events under keys of their own. Recording an event writes only the
/// run's last segment, so it costs the same at the thousandth event as at the first; duplicates (redeliveries) are
/// recognised by event id from a set kept in memory. One control replica writes; reads see every segment.
/// </summary>
public sealed class RunStore(IRecordStore store, int segmentSize = RunStore.DefaultSegmentSize)
{
    public const int DefaultSegmentSize = 100;
    const string Index = "control/runs";
    /// <summary>The runs of one teacher version (by digest), so its report and its on-demand sizes read only those.</summary>
    static string TeacherIndex(string digest) => $"control/runs/teacher/{digest}";
    /// <summary>Written once every run recorded before the teacher indexes existed has been indexed.</summary>
    const string TeacherIndexBuilt = "control/runs/teacher-index-built";
    static string HeaderKey(Guid id) => $"control/run/{id}";
    static string SegmentKey(Guid id, int segment) => $"control/run/{id}/events/{segment}";

    readonly RecordFiles records = new(store);
    readonly SemaphoreSlim gate = new(1, 1);
    /// <summary>The append position of each run written in this process: its last segment and the ids it holds.</summary>
    readonly Dictionary<Guid, EventLog> logs = [];

    public int SegmentSize { get; } = segmentSize > 0 ? segmentSize : throw new ArgumentOutOfRangeException(nameof(segmentSize));

    sealed class EventLog
    {
        public int Segment;
        public List<Envelope> Last = [];
        public HashSet<Guid> Ids = [];
    }

    /// <summary>Records a new run (no events yet) and lists it, with the other runs of its teacher version.</summary>
    public async Task CreateAsync(RunRecord run, CancellationToken ct = default)
    {
        await EnsureTeacherIndexAsync(ct);
        await records.PutAsync(HeaderKey(run.RunId), run with { Events = [] }, ct);
        await gate.WaitAsync(ct);
        try
        {
            // Indexes are read, changed and written back: one writer at a time, or two runs starting together lose one.
            await records.AddToIndexAsync(Index, run.RunId.ToString(), ct);
            await records.AddToIndexAsync(TeacherIndex(run.Teacher.TeacherDigest), run.RunId.ToString(), ct);
            logs[run.RunId] = new EventLog();
        }
        finally { gate.Release(); }
    }

    /// <summary>The runs of the teacher version <paramref name="teacherDigest"/>, with all their events; no other run is read.</summary>
    public async Task<IReadOnlyList<RunRecord>> ForTeacherAsync(string teacherDigest, CancellationToken ct = default)
    {
        await EnsureTeacherIndexAsync(ct);
        var result = new List<RunRecord>();
        foreach (var id in await records.IndexAsync(TeacherIndex(teacherDigest), ct))
            if (await GetAsync(Guid.Parse(id), ct) is { } run) result.Add(run);
        return result;
    }

    /// <summary>Every run's header (what started it, its status), without reading its event segments.</summary>
    public async Task<IReadOnlyList<RunRecord>> HeadersAsync(CancellationToken ct = default)
    {
        var result = new List<RunRecord>();
        foreach (var id in await records.IndexAsync(Index, ct))
            if (await records.GetAsync<RunRecord>(HeaderKey(Guid.Parse(id)), ct) is { } header) result.Add(header);
        return result;
    }

    bool teacherIndexBuilt;

    /// <summary>Indexes by teacher version the runs a store holds from before those indexes existed; once per store.</summary>
    async Task EnsureTeacherIndexAsync(CancellationToken ct)
    {
        if (teacherIndexBuilt) return;
        await gate.WaitAsync(ct);
        try
        {
            if (teacherIndexBuilt || await records.GetAsync<string>(TeacherIndexBuilt, ct) is not null)
            {
                teacherIndexBuilt = true;
                return;
            }
            foreach (var id in await records.IndexAsync(Index, ct))
                if (await records.GetAsync<RunRecord>(HeaderKey(Guid.Parse(id)), ct) is { } header)
                    await records.AddToIndexAsync(TeacherIndex(header.Teacher.TeacherDigest), id, ct);
            await records.PutAsync(TeacherIndexBuilt, DateTime.UtcNow.ToString("O"), ct);
            teacherIndexBuilt = true;
        }
        finally { gate.Release(); }
    }

    /// <summary>A run with all its events, in the order they were recorded.</summary>
    public async Task<RunRecord?> GetAsync(Guid id, CancellationToken ct = default)
    {
        if (await ReadAsync(id, ct) is not ({ } header, var segments)) return null;
        // Runs recorded before events had segments kept them inline, ahead of any appended since.
        return header with { Events = [.. header.Events, .. segments.SelectMany(part => part)] };
    }

    /// <summary>A run's header and its event segments in order, as stored; null when the run is unknown.</summary>
    async Task<(RunRecord Header, List<List<Envelope>> Segments)?> ReadAsync(Guid id, CancellationToken ct)
    {
        if (await records.GetAsync<RunRecord>(HeaderKey(id), ct) is not { } header) return null;
        var segments = new List<List<Envelope>>();
        while (await records.GetAsync<List<Envelope>>(SegmentKey(id, segments.Count), ct) is { } part) segments.Add(part);
        return (header, segments);
    }

    /// <summary>Appends <paramref name="e"/> to its run; false when the run is unknown or already has this event.</summary>
    public async Task<bool> AppendAsync(IntegrationEvent e, CancellationToken ct = default)
    {
        await gate.WaitAsync(ct);
        try
        {
            if (await LogOf(e.RunId, ct) is not { } log || !log.Ids.Add(e.Id)) return false;
            if (log.Last.Count >= SegmentSize)
            {
                log.Segment++;
                log.Last = [];
            }
            log.Last.Add(Envelope.Of(e));
            try
            {
                await records.PutAsync(SegmentKey(e.RunId, log.Segment), log.Last, ct);
            }
            catch
            {
                // Not recorded: forget it, so the redelivery that follows a failed handling records it.
                log.Last.RemoveAt(log.Last.Count - 1);
                log.Ids.Remove(e.Id);
                throw;
            }
            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task SetStatusAsync(Guid id, string status, CancellationToken ct = default)
    {
        if (await records.GetAsync<RunRecord>(HeaderKey(id), ct) is { } header && header.Status != status)
            await records.PutAsync(HeaderKey(id), header with { Status = status }, ct);
    }

    /// <summary>The run's append position, read from the store the first time this process writes to it.</summary>
    async Task<EventLog?> LogOf(Guid id, CancellationToken ct)
    {
        if (logs.TryGetValue(id, out var known)) return known;
        if (await ReadAsync(id, ct) is not ({ } header, var segments)) return null;
        var log = new EventLog { Segment = Math.Max(0, segments.Count - 1), Last = segments.Count > 0 ? segments[^1] : [] };
        foreach (var envelope in header.Events.Concat(segments.SelectMany(part => part))) log.Ids.Add(IdOf(envelope));
        logs[id] = log;
        return log;
    }

    static Guid IdOf(Envelope envelope) => ((IntegrationEvent)envelope.Open()).Id;
}
