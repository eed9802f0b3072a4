using System.Text;
using System.Text.Json;
using Dapr.Client;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar.Tests;

/// <summary>The state API as the real Dapr .NET SDK (DaprClient 1.19) sees it.</summary>
public sealed class Storing_state_through_DaprClient : IAsyncLifetime
{
    const string Store = "statestore";
    TestSidecar sidecar = null!;
    DaprClient dapr = null!;

    public async Task InitializeAsync()
    {
        sidecar = await TestSidecar.StartAsync(new TestSidecarOptions { StateStores = [Store, "other"] });
        dapr = Sdk.Client(sidecar);
    }

    public async Task DisposeAsync()
    {
        dapr.Dispose();
        await sidecar.DisposeAsync();
    }

    [Fact]
    public async Task Saves_reads_and_deletes_a_value()
    {
        await dapr.SaveStateAsync(Store, "order-1", new Order("o-1", 3));

        Assert.Equal(new Order("o-1", 3), await dapr.GetStateAsync<Order>(Store, "order-1"));
        Assert.Equal("""{"id":"o-1","quantity":3}""", Encoding.UTF8.GetString(sidecar.Snapshot(Store)["order-1"]));
        Assert.Empty(sidecar.Snapshot("other"));

        await dapr.DeleteStateAsync(Store, "order-1");

        Assert.Null(await dapr.GetStateAsync<Order>(Store, "order-1"));
        Assert.Empty(sidecar.Snapshot(Store));
    }

    [Fact]
    public async Task Every_write_gets_a_new_etag_and_a_missing_key_has_none()
    {
        var (missing, noEtag) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        Assert.Null(missing);
        Assert.Equal("", noEtag);

        await dapr.SaveStateAsync(Store, "k", new Order("a", 1));
        var (_, first) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        await dapr.SaveStateAsync(Store, "k", new Order("a", 1));
        var (_, second) = await dapr.GetStateAndETagAsync<Order>(Store, "k");

        Assert.False(string.IsNullOrEmpty(first));
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task TrySave_succeeds_with_the_current_etag_and_fails_once_another_write_changed_it()
    {
        await dapr.SaveStateAsync(Store, "lease", new Order("v1", 1));
        var (_, etag) = await dapr.GetStateAndETagAsync<Order>(Store, "lease");

        Assert.True(await dapr.TrySaveStateAsync(Store, "lease", new Order("v2", 2), etag));
        // The successful write changed the etag: the same etag is now stale.
        Assert.False(await dapr.TrySaveStateAsync(Store, "lease", new Order("v3", 3), etag));

        var (_, current) = await dapr.GetStateAndETagAsync<Order>(Store, "lease");
        await dapr.SaveStateAsync(Store, "lease", new Order("other writer", 9));
        Assert.False(await dapr.TrySaveStateAsync(Store, "lease", new Order("v4", 4), current));

        Assert.Equal(new Order("other writer", 9), await dapr.GetStateAsync<Order>(Store, "lease"));
        // An etag for a key that does not exist is a mismatch too.
        Assert.False(await dapr.TrySaveStateAsync(Store, "nobody", new Order("x", 0), "1"));
        Assert.False(sidecar.Snapshot(Store).ContainsKey("nobody"));
    }

    [Fact]
    public async Task TryDelete_needs_the_current_etag()
    {
        await dapr.SaveStateAsync(Store, "k", "one");
        var (_, old) = await dapr.GetStateAndETagAsync<string>(Store, "k");
        await dapr.SaveStateAsync(Store, "k", "two");
        var (_, current) = await dapr.GetStateAndETagAsync<string>(Store, "k");

        Assert.False(await dapr.TryDeleteStateAsync(Store, "k", old));
        Assert.Equal("two", await dapr.GetStateAsync<string>(Store, "k"));
        Assert.True(await dapr.TryDeleteStateAsync(Store, "k", current));
        Assert.Null(await dapr.GetStateAsync<string>(Store, "k"));
        Assert.False(await dapr.TryDeleteStateAsync(Store, "k", current));
    }

    [Fact]
    public async Task First_write_without_an_etag_is_refused_with_Aborted_when_the_key_exists()
    {
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };

        await dapr.SaveByteStateAsync(Store, "claim", "mine"u8.ToArray(), firstWrite);
        var refused = await Sdk.RpcFailure(() => dapr.SaveByteStateAsync(Store, "claim", "yours"u8.ToArray(), firstWrite));

        Assert.Equal(StatusCode.Aborted, refused.StatusCode);
        Assert.Equal("mine", Encoding.UTF8.GetString((await dapr.GetByteStateAsync(Store, "claim")).Span));

        // Last write (the default) without etag always wins.
        await dapr.SaveByteStateAsync(Store, "claim", "last"u8.ToArray());
        Assert.Equal("last", Encoding.UTF8.GetString((await dapr.GetByteStateAsync(Store, "claim")).Span));
    }

    [Fact]
    public async Task A_transaction_applies_all_of_its_operations_or_none()
    {
        static byte[] Json(int v) => JsonSerializer.SerializeToUtf8Bytes(v);
        await dapr.SaveStateAsync(Store, "a", 1);
        await dapr.SaveStateAsync(Store, "b", 2);
        var (_, etagA) = await dapr.GetStateAndETagAsync<int>(Store, "a");

        await dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest("a", Json(10), StateOperationType.Upsert, etagA),
            new StateTransactionRequest("b", null, StateOperationType.Delete),
            new StateTransactionRequest("c", Json(3), StateOperationType.Upsert),
        ]);
        Assert.Equal(10, await dapr.GetStateAsync<int>(Store, "a"));
        Assert.Equal(["a", "c"], sidecar.Snapshot(Store).Keys.Order());

        // etagA is stale now: the whole transaction fails and nothing of it is applied (daprd answers Internal).
        var before = sidecar.Snapshot(Store);
        var failure = await Sdk.RpcFailure(() => dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest("d", Json(4), StateOperationType.Upsert),
            new StateTransactionRequest("c", null, StateOperationType.Delete),
            new StateTransactionRequest("a", Json(20), StateOperationType.Upsert, etagA),
        ]));

        Assert.Equal(StatusCode.Internal, failure.StatusCode);
        Assert.Contains("error while executing state transaction", failure.Status.Detail);
        var after = sidecar.Snapshot(Store);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, after[kv.Key]));
    }

    [Fact]
    public async Task Bulk_get_returns_each_key_with_its_etag_and_empty_items_for_missing_keys()
    {
        await dapr.SaveStateAsync(Store, "k1", new Order("one", 1));
        await dapr.SaveStateAsync(Store, "k2", new Order("two", 2));

        var items = await dapr.GetBulkStateAsync<Order>(Store, ["k1", "missing", "k2"], parallelism: null);

        Assert.Equal(["k1", "missing", "k2"], items.Select(i => i.Key));
        Assert.Equal(new Order("one", 1), items[0].Value);
        Assert.Null(items[1].Value);
        Assert.Equal("", items[1].ETag);
        Assert.Equal(new Order("two", 2), items[2].Value);
        Assert.NotEqual(items[0].ETag, items[2].ETag);

        await dapr.DeleteBulkStateAsync(Store, [new BulkDeleteStateItem("k1", items[0].ETag), new BulkDeleteStateItem("k2", null!)]);
        Assert.Empty(sidecar.Snapshot(Store));
    }

    [Fact]
    public async Task A_request_over_the_4_MB_default_limit_fails_with_ResourceExhausted()
    {
        var tooBig = new byte[4 * 1024 * 1024 + 1024];
        var failure = await Sdk.RpcFailure(() => dapr.SaveByteStateAsync(Store, "big", tooBig));
        Assert.Equal(StatusCode.ResourceExhausted, failure.StatusCode);
        Assert.False(sidecar.Snapshot(Store).ContainsKey("big"));

        var fits = new byte[3 * 1024 * 1024];
        fits[^1] = 7;
        await dapr.SaveByteStateAsync(Store, "big", fits);
        Assert.Equal(fits, (await dapr.GetByteStateAsync(Store, "big")).ToArray());
    }

    [Fact]
    public async Task The_size_limit_is_configurable_like_max_body_size()
    {
        await using var small = await TestSidecar.StartAsync(new TestSidecarOptions { MaxBodySizeBytes = 64 * 1024 });
        using var client = Sdk.Client(small);

        await client.SaveByteStateAsync(Store, "ok", new byte[32 * 1024]);
        var failure = await Sdk.RpcFailure(() => client.SaveByteStateAsync(Store, "too-big", new byte[100 * 1024]));

        Assert.Equal(StatusCode.ResourceExhausted, failure.StatusCode);
        Assert.Equal(["ok"], small.Snapshot(Store).Keys);
    }

    [Fact]
    public async Task Unknown_stores_and_keys_with_the_prefix_separator_are_refused_like_daprd()
    {
        var unknown = await Sdk.RpcFailure(() => dapr.GetStateAsync<string>("nope", "k"));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("state store nope is not found", unknown.Status.Detail);

        var separator = await Sdk.RpcFailure(() => dapr.SaveStateAsync(Store, "a||b", 1));
        Assert.Equal(StatusCode.InvalidArgument, separator.StatusCode);
    }

    sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task A_value_saved_with_ttlInSeconds_disappears_after_it()
    {
        var clock = new ManualClock();
        await using var timed = await TestSidecar.StartAsync(new TestSidecarOptions { TimeProvider = clock });
        using var client = Sdk.Client(timed);
        await client.SaveStateAsync(Store, "short", "lived", metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "60" });
        await client.SaveStateAsync(Store, "long", "lived", metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "-1" });

        clock.Now += TimeSpan.FromSeconds(59);
        Assert.Equal("lived", await client.GetStateAsync<string>(Store, "short"));
        clock.Now += TimeSpan.FromSeconds(1);

        Assert.Null(await client.GetStateAsync<string>(Store, "short"));
        Assert.Equal("lived", await client.GetStateAsync<string>(Store, "long"));
        Assert.Equal(["long"], timed.Snapshot(Store).Keys);
        var bad = await Sdk.RpcFailure(() => client.SaveStateAsync(Store, "k", 1, metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "soon" }));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
    }

    [Fact]
    public async Task Test_helpers_corrupt_values_in_place_and_count_calls()
    {
        await dapr.SaveByteStateAsync(Store, "chunk", new byte[] { 1, 2, 3 });
        var (_, etag) = await dapr.GetByteStateAndETagAsync(Store, "chunk");

        sidecar.Corrupt(Store, "chunk", bytes => { bytes[0] ^= 0xFF; return bytes; });

        var (corrupted, sameEtag) = await dapr.GetByteStateAndETagAsync(Store, "chunk");
        Assert.Equal(new byte[] { 0xFE, 2, 3 }, corrupted.ToArray());
        Assert.Equal(etag, sameEtag);
        Assert.Throws<KeyNotFoundException>(() => sidecar.Corrupt(Store, "absent", b => b));

        var seeded = sidecar.SetState(Store, "seed", "\"planted\""u8.ToArray());
        Assert.Equal(("planted", seeded), await dapr.GetStateAndETagAsync<string>(Store, "seed"));

        Assert.Equal(1, sidecar.Counters.SaveState);
        Assert.Equal(3, sidecar.Counters.GetState);
        Assert.Equal(0, sidecar.Counters.Failed);
    }

    [Fact]
    public async Task WaitForSidecarAsync_returns_while_the_sidecar_runs_and_health_fails_once_it_is_gone()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await dapr.WaitForSidecarAsync(timeout.Token);
        Assert.True(await dapr.CheckHealthAsync());
        Assert.True(await dapr.CheckOutboundHealthAsync());

        await sidecar.DisposeAsync();

        Assert.False(await dapr.CheckHealthAsync());
    }
}
