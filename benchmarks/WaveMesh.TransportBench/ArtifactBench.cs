using System.Diagnostics;
using Dapr.Client;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WaveMesh.Artifacts;
using WaveMesh.Dapr.Sidecar;
using WaveMesh.Transport.Dapr;
using WaveMesh.Transport.Redis;

namespace WaveMesh.TransportBench;

/// <summary>One timed operation on the artifact: its throughput and what it did to this process's memory.</summary>
public sealed record ArtifactSample(int Repetition, double Seconds, double MiBPerSecond, long RssBeforeBytes, long PeakRssBytes,
    long PeakAboveBeforeBytes, long ManagedAllocatedBytes, string PeakSource);

/// <summary>An operation over every repetition: median time and throughput (with the range), the largest peak, the median allocation.</summary>
public sealed record ArtifactOp(string Path, string Operation, long Bytes, double MedianSeconds, double MedianMiBPerSecond, double MinMiBPerSecond,
    double MaxMiBPerSecond, long MaxPeakAboveBeforeBytes, long MedianManagedAllocatedBytes, List<ArtifactSample> Samples);

public sealed record ArtifactResult(long Bytes, int ChunkBytes, int PipelineWindow, int Repetitions, string Digest, List<ArtifactOp> Ops);

/// <summary>
/// A random artifact through ChunkedArtifactStore over RedisKeyValueStore and over DaprKeyValueStore (fake daprd),
/// against plain StackExchange.Redis SET/GET of the same bytes in values of the same size.
/// </summary>
public sealed class ArtifactBench(Servers servers, string root, long bytes, int repetitions, int chunkBytes = 1 << 20, int window = 8)
{
    readonly string keyPrefix = "wmbench-art-" + Guid.NewGuid().ToString("N")[..8] + ":";
    readonly List<(string Path, string Operation)> order = [];
    readonly Dictionary<(string Path, string Operation), List<ArtifactSample>> samples = [];
    int repetition;

    string Source => Path.Combine(root, "artifact.bin");

    public async Task<ArtifactResult> RunAsync(bool withDapr)
    {
        Directory.CreateDirectory(root);
        Log.Line($"artifacts: writing a {bytes / (1 << 20)} MiB random file");
        await WriteRandomFileAsync();
        string digest = "";
        try
        {
            // The operations of one repetition in turn, so that a burst of load from other processes hits them alike.
            for (repetition = 1; repetition <= repetitions; repetition++)
            {
                Log.Line($"artifacts: repetition {repetition}/{repetitions}");
                await Measure("local file", "SHA-256 of the file (reference)", () => { digest = ArtifactDigest.OfFile(Source); return Task.CompletedTask; });

                var redisOptions = new RedisOptions { Configuration = servers.Redis, KeyPrefix = keyPrefix, ChunkBytes = chunkBytes };
                var kv = new RedisKeyValueStore(servers.RedisConnection, redisOptions);
                await Measure("ChunkedArtifactStore on Redis", "put (PutFileAsync)", () => Check(new ChunkedArtifactStore(kv, chunkBytes, Cache($"redis-put-{repetition}")).PutFileAsync(Source, "bench"), digest));
                await Measure("ChunkedArtifactStore on Redis", "get (GetFileAsync, empty cache)", () => Fetch(new ChunkedArtifactStore(kv, chunkBytes, Cache($"redis-get-{repetition}")), digest));

                await Measure("raw StackExchange.Redis", "SET, one at a time", () => RawSet(sequential: true));
                await Measure("raw StackExchange.Redis", "GET to a file, one at a time", () => RawGet(sequential: true));
                await Measure("raw StackExchange.Redis", $"SET, {window} in flight", () => RawSet(sequential: false));
                await Measure("raw StackExchange.Redis", $"GET to a file, {window} in flight", () => RawGet(sequential: false));
                // Everything goes, the manifest included, so that the next repetition's put uploads again.
                await servers.DeleteRedisKeysAsync(keyPrefix);
                DeleteCaches();

                if (withDapr) await DaprAsync(digest);
            }
        }
        finally
        {
            await servers.DeleteRedisKeysAsync(keyPrefix);
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        var ops = order.Select(k => Aggregate(k.Path, k.Operation, samples[k])).ToList();
        return new ArtifactResult(bytes, chunkBytes, window, repetitions, digest, ops);
    }

    ArtifactOp Aggregate(string path, string operation, List<ArtifactSample> list) =>
        new(path, operation, bytes, Median(list.Select(x => x.Seconds)), Median(list.Select(x => x.MiBPerSecond)), list.Min(x => x.MiBPerSecond),
            list.Max(x => x.MiBPerSecond), list.Max(x => x.PeakAboveBeforeBytes), (long)Median(list.Select(x => (double)x.ManagedAllocatedBytes)), list);

    static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    void DeleteCaches()
    {
        foreach (var dir in Directory.EnumerateDirectories(root, "cache-*"))
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    async Task DaprAsync(string digest)
    {
        // A sidecar of its own: its in-memory state store holds the artifact in this process and goes away afterwards.
        await using var sidecar = await TestSidecar.StartAsync(new TestSidecarOptions { DaprApiToken = DaprMesh.DaprApiToken, MaxBodySizeBytes = 16 * 1024 * 1024 });
        using var dapr = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).UseHttpEndpoint(sidecar.HttpEndpoint)
            .UseDaprApiToken(DaprMesh.DaprApiToken).Build();
        var kv = new DaprKeyValueStore(dapr, Options.Create(new DaprOptions { ChunkBytes = chunkBytes }));
        const string path = "ChunkedArtifactStore on Dapr (fake daprd, state in this process)";
        await Measure(path, "put (PutFileAsync)", () => Check(new ChunkedArtifactStore(kv, chunkBytes, Cache($"dapr-put-{repetition}")).PutFileAsync(Source, "bench"), digest));
        await Measure(path, "get (GetFileAsync, empty cache)", () => Fetch(new ChunkedArtifactStore(kv, chunkBytes, Cache($"dapr-get-{repetition}")), digest));
        DeleteCaches();
    }

    string Cache(string name) => Path.Combine(root, "cache-" + name);

    static async Task Check(Task<ArtifactInfo> put, string digest)
    {
        var info = await put;
        if (info.Digest != digest) throw new InvalidOperationException($"stored as {info.Digest}, expected {digest}");
    }

    async Task Fetch(ChunkedArtifactStore store, string digest)
    {
        var file = await store.GetFileAsync(digest);
        if (new FileInfo(file).Length != bytes) throw new InvalidOperationException($"{file} has {new FileInfo(file).Length} bytes, expected {bytes}");
    }

    async Task WriteRandomFileAsync()
    {
        var random = new Random(20240617);
        var buffer = new byte[chunkBytes];
        await using var file = new FileStream(Source, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        for (long written = 0; written < bytes; written += buffer.Length)
        {
            random.NextBytes(buffer);
            await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, bytes - written)));
        }
    }

    int Chunks => (int)((bytes + chunkBytes - 1) / chunkBytes);
    RedisKey RawKey(int i) => $"{keyPrefix}raw/{i}";

    /// <summary>The file in values of ChunkBytes; sequential awaits each SET (as the store does), otherwise up to Window are in flight.</summary>
    async Task RawSet(bool sequential)
    {
        var db = servers.RedisConnection.GetDatabase();
        int lanes = sequential ? 1 : window;
        var buffers = Enumerable.Range(0, lanes).Select(_ => new byte[chunkBytes]).ToArray();
        var pending = new Task[lanes];
        await using var file = new FileStream(Source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        for (int i = 0; i < Chunks; i++)
        {
            int lane = i % lanes;
            if (pending[lane] is { } busy) await busy;
            int n = await file.ReadAtLeastAsync(buffers[lane], chunkBytes, throwOnEndOfStream: false);
            pending[lane] = db.StringSetAsync(RawKey(i), buffers[lane].AsMemory(0, n));
        }
        await Task.WhenAll(pending.Where(t => t is not null));
    }

    /// <summary>Reads the values back in order into a new file; sequential awaits each GET, otherwise up to Window are in flight.</summary>
    async Task RawGet(bool sequential)
    {
        var db = servers.RedisConnection.GetDatabase();
        int ahead = sequential ? 1 : window;
        var target = Path.Combine(root, $"raw-{Guid.NewGuid():N}.bin");
        var queue = new Queue<Task<RedisValue>>();
        long total = 0;
        await using (var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            int next = 0;
            while (next < Chunks || queue.Count > 0)
            {
                while (next < Chunks && queue.Count < ahead) queue.Enqueue(db.StringGetAsync(RawKey(next++)));
                var value = (byte[]?)await queue.Dequeue() ?? throw new InvalidOperationException("a raw chunk is missing");
                await file.WriteAsync(value);
                total += value.Length;
            }
            await file.FlushAsync();
        }
        File.Delete(target);
        if (total != bytes) throw new InvalidOperationException($"read {total} bytes, expected {bytes}");
    }

    async Task Measure(string path, string operation, Func<Task> op)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        long before = Machine.RssBytes();
        bool reset = Machine.ResetPeak();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long sampledPeak = before;
        using var stop = new CancellationTokenSource();
        // Sampled as well, in case the kernel does not let VmHWM be reset.
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                sampledPeak = Math.Max(sampledPeak, Machine.RssBytes());
                try { await Task.Delay(10, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        var clock = Stopwatch.StartNew();
        await op();
        clock.Stop();
        await stop.CancelAsync();
        await sampler;
        long peak = reset ? Math.Max(Machine.PeakRssBytes(), sampledPeak) : sampledPeak;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        double mib = bytes / (double)(1 << 20);
        var result = new ArtifactSample(repetition, Math.Round(clock.Elapsed.TotalSeconds, 3), Math.Round(mib / clock.Elapsed.TotalSeconds, 1),
            before, peak, peak - before, allocated, reset ? "VmHWM (reset before the operation)" : "RSS sampled every 10 ms");
        if (!samples.TryGetValue((path, operation), out var list))
        {
            samples[(path, operation)] = list = [];
            order.Add((path, operation));
        }
        list.Add(result);
        Log.Line($"artifacts: {path}, {operation}: {result.Seconds:F2} s, {result.MiBPerSecond:F0} MiB/s, peak RSS {peak >> 20} MiB ({(peak - before) >> 20} MiB above {before >> 20}), {allocated >> 20} MiB allocated");
    }
}
