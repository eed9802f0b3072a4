using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Dapr.Sidecar;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Transport.Dapr;

namespace WaveMesh.Services.Tests;

/// <summary>ChunkedArtifactStore over the product's DaprKeyValueStore, through the real DaprClient and the fake daprd.</summary>
public sealed class Storing_artifacts_through_the_sidecar : IAsyncLifetime
{
    const int ChunkBytes = 262_144;
    TestSidecar sidecar = null!;
    DaprClient dapr = null!;
    readonly string root = Path.Combine(Path.GetTempPath(), "wavemesh-services-tests", Guid.NewGuid().ToString("N")[..12]);

    public async Task InitializeAsync()
    {
        sidecar = await TestSidecar.StartAsync(new TestSidecarOptions { DaprApiToken = Mesh.DaprApiToken });
        dapr = new DaprClientBuilder().UseGrpcEndpoint(sidecar.GrpcEndpoint).UseHttpEndpoint(sidecar.HttpEndpoint)
            .UseDaprApiToken(Mesh.DaprApiToken).Build();
    }

    public async Task DisposeAsync()
    {
        dapr.Dispose();
        await sidecar.DisposeAsync();
        try { Directory.Delete(root, recursive: true); }
        catch (IOException) { }
    }

    DaprKeyValueStore Kv() => new(dapr, Options.Create(new DaprOptions { ChunkBytes = ChunkBytes }));

    /// <summary>A store as one service holds it: its own local cache folder.</summary>
    ChunkedArtifactStore Store() => new(Kv(), ChunkBytes, Path.Combine(root, Guid.NewGuid().ToString("N")[..8]));

    static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    static bool Same(byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b);

    IReadOnlyDictionary<string, byte[]> State => sidecar.Snapshot(Mesh.Store);

    static List<string> ManifestChunkKeys(byte[] manifest)
    {
        using var doc = JsonDocument.Parse(manifest);
        return doc.RootElement.GetProperty("chunks").EnumerateArray().Select(c => c.GetProperty("key").GetString()!).ToList();
    }

    [Fact]
    public async Task A_20_MB_artifact_round_trips_in_chunks_no_larger_than_ChunkBytes()
    {
        var bytes = RandomBytes(20 * 1024 * 1024 + 12_345, seed: 1);

        var info = await Store().PutAsync(new MemoryStream(bytes), "blob", new Dictionary<string, string> { ["note"] = "big" });
        var path = await Store().GetFileAsync(info.Digest);   // another service: nothing cached yet

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), info.Digest);
        Assert.Equal(bytes.Length, info.Size);
        Assert.True(Same(bytes, await File.ReadAllBytesAsync(path)), "the bytes read back differ");
        var state = State;
        var chunks = state.Where(kv => kv.Key.StartsWith("chunk/", StringComparison.Ordinal)).ToList();
        Assert.Equal((bytes.Length + ChunkBytes - 1) / ChunkBytes, chunks.Count);
        Assert.All(state, kv => Assert.True(kv.Value.Length <= ChunkBytes, $"{kv.Key} holds {kv.Value.Length} bytes"));
        Assert.Equal(chunks.Select(c => c.Key).Order(), ManifestChunkKeys(state[$"artifact/{info.Digest}"]).Order());
        var again = await Store().GetInfoAsync(info.Digest);
        Assert.Equal(("blob", "big"), (again!.Kind, again.Metadata["note"]));
    }

    [Fact]
    public async Task Concurrent_puts_of_the_same_content_leave_one_manifest_and_no_orphan_chunks()
    {
        var bytes = RandomBytes(3 * 1024 * 1024 + 7, seed: 2);
        var writers = Enumerable.Range(0, 4).Select(_ => Store()).ToList();

        var infos = await Task.WhenAll(writers.Select(w => Task.Run(() => w.PutAsync(new MemoryStream(bytes), "blob"))));

        var digest = Assert.Single(infos.Select(i => i.Digest).Distinct());
        var state = State;
        Assert.Equal([$"artifact/{digest}"], state.Keys.Where(k => k.StartsWith("artifact/", StringComparison.Ordinal)));
        var live = ManifestChunkKeys(state[$"artifact/{digest}"]);
        Assert.Equal((bytes.Length + ChunkBytes - 1) / ChunkBytes, live.Count);
        // Every chunk in the store belongs to the winning manifest: the losers deleted theirs.
        Assert.Equal(live.Order(), state.Keys.Where(k => k.StartsWith("chunk/", StringComparison.Ordinal)).Order());
        Assert.Single(live.Select(k => k.Split('/')[1]).Distinct());
        Assert.True(Same(bytes, await File.ReadAllBytesAsync(await Store().GetFileAsync(digest))));
    }

    [Fact]
    public async Task Records_are_first_write_wins()
    {
        var store = Store();

        Assert.True(await store.TryAddRecordAsync("result/evaluate/abc", """{"accuracy":0.5}"""));
        Assert.False(await store.TryAddRecordAsync("result/evaluate/abc", """{"accuracy":0.9}"""));
        Assert.Equal("""{"accuracy":0.5}""", await Store().GetRecordAsync("result/evaluate/abc"));

        // Many writers racing on one key (replicas finishing the same job): exactly one wins and its value stays.
        var racers = Enumerable.Range(0, 8).Select(i => (Store: Store(), Json: $$"""{"writer":{{i}}}""")).ToList();
        var won = await Task.WhenAll(racers.Select(r => Task.Run(() => r.Store.TryAddRecordAsync("race", r.Json))));
        var winner = Assert.Single(racers.Zip(won), x => x.Second).First;
        Assert.Equal(winner.Json, await store.GetRecordAsync("race"));

        await store.SetRecordAsync("race", """{"replaced":true}""");
        Assert.Equal("""{"replaced":true}""", await store.GetRecordAsync("race"));
        Assert.True(await store.DeleteRecordAsync("race"));
        Assert.False(await store.DeleteRecordAsync("race"));
        Assert.Equal(Encoding.UTF8.GetBytes("""{"accuracy":0.5}"""), State["record/result/evaluate/abc"]);
    }

    [Fact]
    public async Task A_missing_key_reads_as_absent()
    {
        var kv = Kv();
        var store = Store();
        var digest = Convert.ToHexStringLower(SHA256.HashData("never stored"u8));

        Assert.Null(await kv.GetAsync("no/such/key"));
        Assert.Equal((null, null), await kv.GetVersionedAsync("no/such/key"));
        Assert.Null(await store.GetRecordAsync("no/such/record"));
        Assert.False(await store.ExistsAsync(digest));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(digest));
        // PutFileAsync looks for the manifest first: with the bug it throws JsonException before storing anything.
        var file = Path.Combine(root, "small.bin");
        Directory.CreateDirectory(root);
        await File.WriteAllBytesAsync(file, RandomBytes(1000, seed: 3));
        Assert.Equal(1000, (await store.PutFileAsync(file, "blob")).Size);
    }
}
