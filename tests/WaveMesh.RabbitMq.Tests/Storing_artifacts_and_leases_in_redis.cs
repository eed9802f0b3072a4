using System.Security.Cryptography;
using StackExchange.Redis;
using WaveMesh.Artifacts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using WaveMesh.Transport.Redis;

namespace WaveMesh.RabbitMq.Tests;

/// <summary>The Redis key/value store under the chunked artifact store and the job leases, on a real Redis.</summary>
[Trait("Category", "Integration")]
public sealed class Storing_artifacts_and_leases_in_redis : IAsyncLifetime
{
    const int ChunkBytes = 1 << 20;
    readonly string prefix = "wmt-" + Guid.NewGuid().ToString("N")[..10] + ":";
    readonly string folder = Path.Combine(Path.GetTempPath(), "wavemesh-rabbitmq-tests", "redis-" + Guid.NewGuid().ToString("N")[..8]);
    readonly List<ConnectionMultiplexer> connections = [];

    public async Task InitializeAsync()
    {
        await Servers.RequireAsync(rabbitMq: false);
        Directory.CreateDirectory(folder);
    }

    public async Task DisposeAsync()
    {
        if (connections.Count > 0) await Servers.DeleteRedisKeysAsync(connections[0], prefix);
        foreach (var c in connections) await c.DisposeAsync();
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    /// <summary>A client as another process would have: its own connection, and its own (empty) local cache.</summary>
    async Task<(RedisKeyValueStore Kv, ChunkedArtifactStore Store)> Client(int chunkBytes = ChunkBytes)
    {
        var redis = await ConnectionMultiplexer.ConnectAsync(Servers.Redis);
        lock (connections) connections.Add(redis);
        var options = new RedisOptions { Configuration = Servers.Redis, KeyPrefix = prefix, ChunkBytes = chunkBytes };
        var kv = new RedisKeyValueStore(redis, options);
        return (kv, new ChunkedArtifactStore(kv, options.ChunkBytes, Path.Combine(folder, "cache-" + Guid.NewGuid().ToString("N")[..8])));
    }

    IDatabase Db => connections[0].GetDatabase();

    static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    async Task<List<string>> Keys(string under) => (await Servers.RedisKeysAsync(connections[0], prefix + under)).Order().ToList();

    [Fact]
    public async Task Round_trips_a_20_MB_artifact_with_every_stored_value_no_larger_than_a_chunk()
    {
        var (_, writer) = await Client();
        var content = RandomBytes(20 * 1000 * 1000, seed: 1);
        var digest = Convert.ToHexStringLower(SHA256.HashData(content));

        var info = await writer.PutAsync(new MemoryStream(content), "blob", new Dictionary<string, string> { ["purpose"] = "test" });

        Assert.Equal(digest, info.Digest);
        Assert.Equal(content.Length, info.Size);
        var chunks = await Keys("chunk/");
        Assert.Equal((content.Length + ChunkBytes - 1) / ChunkBytes, chunks.Count);
        foreach (var key in await Keys(""))
        {
            var length = await Db.HashStringLengthAsync(key, "v");
            Assert.True(length <= ChunkBytes, $"{key} holds {length} bytes, more than ChunkBytes {ChunkBytes}");
        }
        Assert.Equal([$"{prefix}artifact/{digest}"], await Keys("artifact/"));

        var (_, reader) = await Client();
        var read = (await reader.GetInfoAsync(digest))!;
        Assert.Equal((info.Digest, info.Size, info.Kind, info.CreatedAt), (read.Digest, read.Size, read.Kind, read.CreatedAt));
        Assert.Equal("test", read.Metadata["purpose"]);
        Assert.Equal(content, await File.ReadAllBytesAsync(await reader.GetFileAsync(digest)));
        await using var stream = await reader.OpenReadAsync(digest);
        Assert.Equal(digest, ArtifactDigest.Of(stream));
    }

    [Fact]
    public async Task A_chunk_list_longer_than_one_value_goes_into_pages_and_every_value_stays_within_a_chunk()
    {
        const int small = 4096;
        var (_, writer) = await Client(small);
        var content = RandomBytes(100 * small + 17, seed: 4);   // 101 chunks: their list alone is ~13 kB

        var info = await writer.PutAsync(new MemoryStream(content), "blob");

        foreach (var key in await Keys(""))
        {
            var length = await Db.HashStringLengthAsync(key, "v");
            Assert.True(length <= small, $"{key} holds {length} bytes, more than ChunkBytes {small}");
        }
        var pages = await Keys("chunklist/");
        Assert.InRange(pages.Count, 4, 10);
        Assert.Equal(101, (await Keys("chunk/")).Count);
        var (_, reader) = await Client(small);
        Assert.Equal(content, await File.ReadAllBytesAsync(await reader.GetFileAsync(info.Digest)));
        Assert.Equal(content.Length, (await reader.GetInfoAsync(info.Digest))!.Size);

        // A lost page leaves the chunk list short: the read refuses the artifact instead of returning part of it.
        await Db.KeyDeleteAsync(pages[1]);
        var (_, late) = await Client(small);
        await Assert.ThrowsAsync<ArtifactCorruptException>(() => late.GetFileAsync(info.Digest));
    }

    [Fact]
    public async Task Concurrent_puts_of_the_same_content_keep_one_manifest_and_no_stray_chunks()
    {
        var content = RandomBytes(3 * ChunkBytes + 12345, seed: 2);
        var clients = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Client()));

        var infos = await Task.WhenAll(clients.Select(c => Task.Run(() => c.Store.PutAsync(new MemoryStream(content), "blob"))));

        var digest = Assert.Single(infos.Select(i => i.Digest).Distinct());
        Assert.Single(infos.Select(i => i.CreatedAt).Distinct());   // every writer reports the one manifest that won
        Assert.Equal([$"{prefix}artifact/{digest}"], await Keys("artifact/"));
        // The losers removed their chunks: only the winner's four remain, all under one upload.
        var chunks = await Keys("chunk/");
        Assert.Equal(4, chunks.Count);
        Assert.Single(chunks.Select(k => k.Split('/')[1]).Distinct());
        var (_, reader) = await Client();
        Assert.Equal(content, await File.ReadAllBytesAsync(await reader.GetFileAsync(digest)));
    }

    [Fact]
    public async Task A_damaged_chunk_is_refused_with_an_ArtifactCorruptException_naming_the_chunk()
    {
        var (_, writer) = await Client();
        var content = RandomBytes(3 * ChunkBytes + 100, seed: 3);
        var digest = (await writer.PutAsync(new MemoryStream(content), "blob")).Digest;
        var chunks = await Keys("chunk/");
        var second = chunks.Single(k => k.EndsWith("/1", StringComparison.Ordinal));
        // Same length, other bytes: only the hashes can tell.
        var damaged = (byte[])(await Db.HashGetAsync(second, "v"))!;
        damaged[^1] ^= 0xFF;
        await Db.HashSetAsync(second, "v", damaged);

        var (_, reader) = await Client();
        var error = await Assert.ThrowsAsync<ArtifactCorruptException>(() => reader.GetFileAsync(digest));

        Assert.Equal(digest, error.Digest);
        Assert.Contains("chunk 2 of 4", error.Message);
        Assert.Contains(second[prefix.Length..], error.Message);
        // The manifest is gone, so the stage that produced the artifact runs again.
        Assert.False(await reader.ExistsAsync(digest));
        Assert.Empty(await Keys("artifact/"));
        Assert.Empty(Directory.EnumerateFiles(folder, "*" + digest + "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Missing_keys_read_as_absent_and_versions_guard_every_write()
    {
        var (kv, store) = await Client();

        Assert.Null(await kv.GetAsync("nothing/here"));
        var (missing, missingVersion) = await kv.GetVersionedAsync("nothing/here");
        Assert.Null(missing);
        Assert.Null(missingVersion);
        Assert.Null(await store.GetRecordAsync("nothing/here"));
        Assert.Null(await store.GetInfoAsync(new string('0', 64)));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(new string('0', 64)));

        Assert.True(await kv.TryCreateAsync("k", "one"u8.ToArray()));
        Assert.False(await kv.TryCreateAsync("k", "two"u8.ToArray()));
        var (value, version) = await kv.GetVersionedAsync("k");
        Assert.Equal("one"u8.ToArray(), value!.Value.ToArray());
        Assert.True(await kv.TryReplaceAsync("k", "three"u8.ToArray(), version!));
        Assert.False(await kv.TryReplaceAsync("k", "four"u8.ToArray(), version!));   // the version changed
        Assert.False(await kv.DeleteAsync("k", version));
        Assert.True(await kv.DeleteAsync("k"));
        Assert.Null(await kv.GetAsync("k"));
        // An empty value is a value, not an absent key.
        await kv.SetAsync("empty", ReadOnlyMemory<byte>.Empty);
        Assert.Equal(0, (await kv.GetAsync("empty"))!.Value.Length);
    }

    [Fact]
    public async Task Of_two_simultaneous_claims_on_a_job_exactly_one_wins()
    {
        var clients = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Client()));
        var leases = clients.Select(c => new KeyValueJobLeases(c.Kv)).ToArray();

        for (int round = 0; round < 20; round++)
        {
            var job = $"job-{round}";
            using var start = new ManualResetEventSlim();
            var claims = leases.Select((l, i) => Task.Run(async () =>
            {
                start.Wait();
                return await l.TryClaimAsync(job, $"w{i}", TimeSpan.FromSeconds(30));
            })).ToArray();
            start.Set();
            var won = (await Task.WhenAll(claims)).Where(l => l is not null).ToList();

            var lease = Assert.Single(won);
            Assert.Equal(1, lease!.Attempt);
            Assert.Equal(lease.Worker, (await leases[0].GetAsync(job))!.Worker);
        }
    }

    [Fact]
    public async Task An_expired_lease_is_taken_over_with_the_next_attempt_and_the_old_holder_loses_it()
    {
        var clients = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Client()));
        // One clock both workers read, moved by the test: expiry does not depend on how busy the machine is.
        var clock = new ManualClock();
        var first = new KeyValueJobLeases(clients[0].Kv, clock);
        var second = new KeyValueJobLeases(clients[1].Kv, clock);

        var held = await first.TryClaimAsync("job", "w1", TimeSpan.FromSeconds(30));
        Assert.NotNull(held);
        Assert.Null(await second.TryClaimAsync("job", "w2", TimeSpan.FromSeconds(30)));   // live: refused
        clock.Advance(TimeSpan.FromSeconds(31));

        var taken = await second.TryClaimAsync("job", "w2", TimeSpan.FromSeconds(30));

        Assert.NotNull(taken);
        Assert.Equal(held!.Attempt + 1, taken!.Attempt);
        Assert.Equal("w2", taken.Worker);
        Assert.False(await first.RenewAsync(held, TimeSpan.FromSeconds(30)));   // w1 lost it
        await first.ReleaseAsync(held);                                          // and cannot end w2's lease
        var now = await second.GetAsync("job");
        Assert.Equal(("w2", 2), (now!.Worker, now.Attempt));
        Assert.True(now.IsLive(clock.GetUtcNow().UtcDateTime));
        Assert.True(await second.RenewAsync(taken, TimeSpan.FromSeconds(30)));
        // Released, the lease keeps its attempt count for whoever claims the job next.
        await second.ReleaseAsync(taken);
        Assert.Equal(3, (await first.TryClaimAsync("job", "w1", TimeSpan.FromSeconds(30)))!.Attempt);
    }
}

/// <summary>A clock that moves only when the test says so.</summary>
sealed class ManualClock : TimeProvider
{
    DateTimeOffset now = DateTimeOffset.UtcNow;
    public override DateTimeOffset GetUtcNow() => now;
    public void Advance(TimeSpan by) => now += by;
}
