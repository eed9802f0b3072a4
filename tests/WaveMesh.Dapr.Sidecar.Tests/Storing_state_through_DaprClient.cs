using System.Text;
using System.Text.Json;
using Dapr.Client;
using Grpc.Core;
using Autogen = Dapr.Client.Autogen.Grpc.v1;

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

    // contrib: state/redis/redis.go 239-259 (HGETALL: the stored bytes come back as written) and 199-220 (DEL).
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

    // contrib: state/redis/redis.go 38-52 (the version field, incremented by HINCRBY on every write, is the ETag) and
    // 53-59 (a delete removes the hash, so the next write starts at "1" again); 239-259 (a missing key: no data, no ETag).
    [Fact]
    public async Task Etags_are_per_key_versions_that_start_at_1_and_start_again_after_a_delete()
    {
        var (missing, noEtag) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        Assert.Null(missing);
        Assert.Equal("", noEtag);

        await dapr.SaveStateAsync(Store, "k", new Order("a", 1));
        var (_, first) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        await dapr.SaveStateAsync(Store, "k", new Order("a", 1));
        var (_, second) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        await dapr.SaveStateAsync(Store, "other", new Order("b", 1));
        var (_, otherKey) = await dapr.GetStateAndETagAsync<Order>(Store, "other");

        Assert.Equal(("1", "2", "1"), (first, second, otherKey));

        await dapr.DeleteStateAsync(Store, "k");
        await dapr.SaveStateAsync(Store, "k", new Order("c", 1));
        var (_, recreated) = await dapr.GetStateAndETagAsync<Order>(Store, "k");
        Assert.Equal("1", recreated);
        // So an ETag from before the delete matches the re-created key.
        Assert.True(await dapr.TrySaveStateAsync(Store, "k", new Order("d", 1), first));
    }

    // contrib: state/redis/redis.go 38-52 (a stored version that differs fails the script), 355-358 (with an ETag the
    // failure is an ETag mismatch) and dapr: pkg/api/grpc/grpc.go 798-811 (mismatch = Aborted, which TrySaveStateAsync
    // turns into false); an ETag on a missing key is not checked: the write creates it at version 1.
    [Fact]
    public async Task TrySave_succeeds_with_the_current_etag_fails_on_a_changed_one_and_creates_a_missing_key()
    {
        await dapr.SaveStateAsync(Store, "lease", new Order("v1", 1));
        var (_, etag) = await dapr.GetStateAndETagAsync<Order>(Store, "lease");

        Assert.True(await dapr.TrySaveStateAsync(Store, "lease", new Order("v2", 2), etag));
        Assert.False(await dapr.TrySaveStateAsync(Store, "lease", new Order("v3", 3), etag));

        var (_, current) = await dapr.GetStateAndETagAsync<Order>(Store, "lease");
        await dapr.SaveStateAsync(Store, "lease", new Order("other writer", 9));
        var stale = await Sdk.RpcFailure(() => dapr.SaveBulkStateAsync(Store, [new SaveStateItem<Order>("lease", new Order("v4", 4), current)]));
        Assert.Equal(StatusCode.Aborted, stale.StatusCode);
        Assert.StartsWith("failed saving state in state store statestore: possible etag mismatch. error from state store: ", stale.Status.Detail);
        Assert.Equal(new Order("other writer", 9), await dapr.GetStateAsync<Order>(Store, "lease"));

        Assert.True(await dapr.TrySaveStateAsync(Store, "nobody", new Order("x", 0), "17"));
        Assert.Equal((new Order("x", 0), "1"), await dapr.GetStateAndETagAsync<Order>(Store, "nobody"));
    }

    // contrib: state/redis/redis.go 525-535 (parseETag: strconv.Atoi, failure = ETagInvalid) and dapr: grpc.go 805-806
    // (ETagInvalid = InvalidArgument), unless concurrency is last-write, which ignores the ETag altogether (526-528).
    [Fact]
    public async Task A_non_numeric_etag_is_InvalidArgument_and_last_write_ignores_the_etag()
    {
        await dapr.SaveStateAsync(Store, "k", "one");

        var invalid = await Sdk.RpcFailure(() => dapr.TrySaveStateAsync(Store, "k", "two", "not-a-number"));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("invalid etag value", invalid.Status.Detail);

        var lastWrite = new StateOptions { Concurrency = ConcurrencyMode.LastWrite };
        Assert.True(await dapr.TrySaveStateAsync(Store, "k", "three", "999", lastWrite));
        Assert.True(await dapr.TrySaveStateAsync(Store, "k", "four", "not-a-number", lastWrite));
        Assert.Equal(("four", "3"), await dapr.GetStateAndETagAsync<string>(Store, "k"));
    }

    // contrib: state/redis/redis.go 53-59 + 199-220: a delete with an ETag needs the stored version to equal it, but a
    // missing key is deleted successfully; the failure is an ETag mismatch -> Aborted (dapr: grpc.go 813-861). One
    // attempt: daprd would retry it under the statestore outbound retry, which dapr/resiliency.yaml does not have.
    [Fact]
    public async Task TryDelete_needs_the_current_etag_unless_the_key_is_gone()
    {
        await dapr.SaveStateAsync(Store, "k", "one");
        var (_, old) = await dapr.GetStateAndETagAsync<string>(Store, "k");
        await dapr.SaveStateAsync(Store, "k", "two");
        var (_, current) = await dapr.GetStateAndETagAsync<string>(Store, "k");

        Assert.False(await dapr.TryDeleteStateAsync(Store, "k", old));
        var request = new Autogen.DeleteStateRequest { StoreName = Store, Key = "k", Etag = new Autogen.Etag { Value = old } };
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(sidecar.GrpcEndpoint);
        var mismatch = await Assert.ThrowsAsync<RpcException>(async () =>
            await channel.CreateCallInvoker().AsyncUnaryCall(Unary<Autogen.DeleteStateRequest>("DeleteState", Autogen.DeleteStateRequest.Parser), null, new CallOptions(), request));
        Assert.Equal(StatusCode.Aborted, mismatch.StatusCode);
        Assert.StartsWith("failed deleting state with key k: possible etag mismatch", mismatch.Status.Detail);
        Assert.Equal("two", await dapr.GetStateAsync<string>(Store, "k"));
        Assert.Equal(2, sidecar.Counters.DeleteState);

        Assert.True(await dapr.TryDeleteStateAsync(Store, "k", current));
        Assert.Null(await dapr.GetStateAsync<string>(Store, "k"));
        Assert.True(await dapr.TryDeleteStateAsync(Store, "k", current));
        Assert.True(await dapr.TryDeleteStateAsync(Store, "never-there", "42"));
    }

    // contrib: state/redis/redis.go 38-52 (setDefaultQuery: a first-write write stores the first-write field; without an
    // ETag a key that has it is refused, a key without it is overwritten) and 355-361 (without an ETag that refusal is a
    // plain "failed to set key" error), dapr: grpc.go 798-811 (a plain error is Internal, never Aborted).
    [Fact]
    public async Task First_write_without_an_etag_only_protects_keys_that_were_written_with_first_write_and_fails_with_Internal()
    {
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };

        await dapr.SaveByteStateAsync(Store, "claim", "mine"u8.ToArray(), firstWrite);
        var refused = await Sdk.RpcFailure(() => dapr.SaveByteStateAsync(Store, "claim", "yours"u8.ToArray(), firstWrite));
        Assert.Equal(StatusCode.Internal, refused.StatusCode);
        Assert.Equal("failed saving state in state store statestore: failed to set key statestore||claim: ERR failed to set key statestore||claim",
            refused.Status.Detail);
        // The mark stays: a later plain write without an ETag is refused too.
        var plain = await Sdk.RpcFailure(() => dapr.SaveByteStateAsync(Store, "claim", "last"u8.ToArray()));
        Assert.Equal(StatusCode.Internal, plain.StatusCode);
        Assert.Equal("mine", Encoding.UTF8.GetString((await dapr.GetByteStateAsync(Store, "claim")).Span));
        // With the current ETag it can be written.
        var (_, etag) = await dapr.GetByteStateAndETagAsync(Store, "claim");
        Assert.True(await dapr.TrySaveByteStateAsync(Store, "claim", "renewed"u8.ToArray(), etag));

        // A key written without first-write is simply overwritten by a first-write write without an ETag.
        await dapr.SaveByteStateAsync(Store, "open", "a"u8.ToArray());
        await dapr.SaveByteStateAsync(Store, "open", "b"u8.ToArray(), firstWrite);
        Assert.Equal(("b", "2"), (Encoding.UTF8.GetString((await dapr.GetByteStateAsync(Store, "open")).Span), (await dapr.GetByteStateAndETagAsync(Store, "open")).etag));

        // After a delete the key is free again.
        await dapr.DeleteStateAsync(Store, "claim");
        await dapr.SaveByteStateAsync(Store, "claim", "again"u8.ToArray());
        await dapr.SaveByteStateAsync(Store, "claim", "and again"u8.ToArray());
    }

    // contrib: state/redis/redis.go 388-446 (Multi): the scripts run in one MULTI/EXEC, which does not roll back, so
    // every operation runs and EXEC reports the first failure; dapr: grpc.go 1052-1056 reports it as Internal.
    [Fact]
    public async Task A_transaction_is_not_all_or_nothing_and_its_failure_is_Internal()
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

        // etagA is stale now: that upsert fails, the operations before and after it are applied anyway.
        var failure = await Sdk.RpcFailure(() => dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest("d", Json(4), StateOperationType.Upsert),
            new StateTransactionRequest("a", Json(20), StateOperationType.Upsert, etagA),
            new StateTransactionRequest("c", null, StateOperationType.Delete),
        ]));

        Assert.Equal(StatusCode.Internal, failure.StatusCode);
        Assert.Equal("error while executing state transaction: ERR failed to set key statestore||a", failure.Status.Detail);
        Assert.Equal(["a", "d"], sidecar.Snapshot(Store).Keys.Order());
        Assert.Equal(10, await dapr.GetStateAsync<int>(Store, "a"));
    }

    // contrib: state/redis/redis.go 396-427: ETags and TTLs are parsed before MULTI (an invalid one applies nothing), and
    // the first-write argument is not passed, so first-write is not honoured (and marks nothing) inside a transaction;
    // dapr: grpc.go 989-993: an unknown operation type is Unimplemented.
    [Fact]
    public async Task Transactions_parse_etags_first_ignore_first_write_and_refuse_unknown_operations()
    {
        static byte[] Json(int v) => JsonSerializer.SerializeToUtf8Bytes(v);
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
        await dapr.SaveStateAsync(Store, "x", 1);

        await dapr.ExecuteStateTransactionAsync(Store, [new StateTransactionRequest("x", Json(2), StateOperationType.Upsert, options: firstWrite)]);
        Assert.Equal(2, await dapr.GetStateAsync<int>(Store, "x"));
        await dapr.SaveStateAsync(Store, "x", 3); // not marked by the transaction's first-write

        var invalid = await Sdk.RpcFailure(() => dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest("y", Json(1), StateOperationType.Upsert),
            new StateTransactionRequest("x", Json(4), StateOperationType.Upsert, "abc"),
        ]));
        Assert.Equal(StatusCode.Internal, invalid.StatusCode);
        Assert.StartsWith("error while executing state transaction: invalid etag value", invalid.Status.Detail);
        Assert.DoesNotContain("y", sidecar.Snapshot(Store).Keys);

        // A key marked by a first-write SaveState still refuses a transaction's write without an ETag.
        await dapr.SaveStateAsync(Store, "m", 1, firstWrite);
        var marked = await Sdk.RpcFailure(() => dapr.ExecuteStateTransactionAsync(Store, [new StateTransactionRequest("m", Json(2), StateOperationType.Upsert)]));
        Assert.Equal(StatusCode.Internal, marked.StatusCode);

        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(sidecar.GrpcEndpoint);
        var invoker = channel.CreateCallInvoker();
        var request = new Autogen.ExecuteStateTransactionRequest { StoreName = Store };
        request.Operations.Add(new Autogen.TransactionalStateOperation { OperationType = "merge", Request = new Autogen.StateItem { Key = "z" } });
        var unknown = await Assert.ThrowsAsync<RpcException>(async () =>
            await invoker.AsyncUnaryCall(Unary<Autogen.ExecuteStateTransactionRequest>("ExecuteStateTransaction", Autogen.ExecuteStateTransactionRequest.Parser), null, new CallOptions(), request));
        Assert.Equal((StatusCode.Unimplemented, "operation type merge not supported"), (unknown.StatusCode, unknown.Status.Detail));
    }

    /// <summary>A unary method of dapr.proto.runtime.v1.Dapr answering Empty, for calls DaprClient cannot make.</summary>
    static Method<TRequest, Google.Protobuf.WellKnownTypes.Empty> Unary<TRequest>(string name, Google.Protobuf.MessageParser<TRequest> parser)
        where TRequest : Google.Protobuf.IMessage<TRequest> => new(
        MethodType.Unary, "dapr.proto.runtime.v1.Dapr", name,
        Marshallers.Create<TRequest>(m => Google.Protobuf.MessageExtensions.ToByteArray(m), parser.ParseFrom),
        Marshallers.Create<Google.Protobuf.WellKnownTypes.Empty>(m => Google.Protobuf.MessageExtensions.ToByteArray(m), Google.Protobuf.WellKnownTypes.Empty.Parser.ParseFrom));

    // dapr: pkg/components/state/bulk.go 44-145 + contrib: state/bulk.go 117-156: several items are saved one by one (not
    // atomically); when every failure is an ETag error the answer is that ETag error (Aborted).
    [Fact]
    public async Task Multi_item_saves_and_bulk_deletes_apply_item_by_item()
    {
        await dapr.SaveStateAsync(Store, "p", 1);
        await dapr.SaveStateAsync(Store, "p", 2);

        var failure = await Sdk.RpcFailure(() => dapr.SaveBulkStateAsync(Store,
        [
            new SaveStateItem<int>("q", 1, null!),
            new SaveStateItem<int>("p", 3, "1"),
            new SaveStateItem<int>("r", 1, null!),
        ]));
        Assert.Equal(StatusCode.Aborted, failure.StatusCode);
        Assert.Equal(["p", "q", "r"], sidecar.Snapshot(Store).Keys.Order());
        Assert.Equal(2, await dapr.GetStateAsync<int>(Store, "p"));

        var bulkDelete = await Sdk.RpcFailure(() => dapr.DeleteBulkStateAsync(Store,
            [new BulkDeleteStateItem("q", null!), new BulkDeleteStateItem("p", "1"), new BulkDeleteStateItem("r", null!)]));
        Assert.Equal(StatusCode.Aborted, bulkDelete.StatusCode);
        Assert.StartsWith("failed deleting state in state store statestore: possible etag mismatch", bulkDelete.Status.Detail);
        Assert.Equal(["p"], sidecar.Snapshot(Store).Keys);
    }

    // dapr: grpc.go 730-732 (only SaveState refuses an empty key) and pkg/components/state/state_config.go 67-70, 130-135
    // (a key with "||" is InvalidArgument on every call).
    [Fact]
    public async Task Only_saving_refuses_an_empty_key()
    {
        // DaprClient refuses empty keys itself, so these go to the sidecar directly.
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(sidecar.GrpcEndpoint);
        var invoker = channel.CreateCallInvoker();
        var save = new Autogen.SaveStateRequest { StoreName = Store };
        save.States.Add(new Autogen.StateItem { Key = "", Value = Google.Protobuf.ByteString.CopyFromUtf8("1") });
        var empty = await Assert.ThrowsAsync<RpcException>(async () =>
            await invoker.AsyncUnaryCall(Unary<Autogen.SaveStateRequest>("SaveState", Autogen.SaveStateRequest.Parser), null, new CallOptions(), save));
        Assert.Equal((StatusCode.InvalidArgument, "state key cannot be empty"), (empty.StatusCode, empty.Status.Detail));

        var get = await invoker.AsyncUnaryCall(
            new Method<Autogen.GetStateRequest, Autogen.GetStateResponse>(MethodType.Unary, "dapr.proto.runtime.v1.Dapr", "GetState",
                Marshallers.Create<Autogen.GetStateRequest>(m => Google.Protobuf.MessageExtensions.ToByteArray(m), Autogen.GetStateRequest.Parser.ParseFrom),
                Marshallers.Create<Autogen.GetStateResponse>(m => Google.Protobuf.MessageExtensions.ToByteArray(m), Autogen.GetStateResponse.Parser.ParseFrom)),
            null, new CallOptions(), new Autogen.GetStateRequest { StoreName = Store, Key = "" });
        Assert.Equal(("", 0), (get.Etag, get.Data.Length));
        await invoker.AsyncUnaryCall(Unary<Autogen.DeleteStateRequest>("DeleteState", Autogen.DeleteStateRequest.Parser), null, new CallOptions(),
            new Autogen.DeleteStateRequest { StoreName = Store, Key = "" });

        var separator = await Sdk.RpcFailure(() => dapr.DeleteStateAsync(Store, "a||b"));
        Assert.Equal(StatusCode.InvalidArgument, separator.StatusCode);
    }

    // dapr: pkg/api/grpc/grpc.go 574-648 (GetBulkState: an item per key, empty for a missing one) with contrib: state/bulk.go 71-110.
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
        Assert.Equal(("1", "1"), (items[0].ETag, items[2].ETag)); // per-key versions (contrib: state/redis/redis.go 38-52)

        await dapr.DeleteBulkStateAsync(Store, [new BulkDeleteStateItem("k1", items[0].ETag), new BulkDeleteStateItem("k2", null!)]);
        Assert.Empty(sidecar.Snapshot(Store));
    }

    // daprd's --max-body-size (4 MB by default) is the gRPC server's maximum receive size: larger requests are ResourceExhausted.
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

    // daprd's --max-body-size, as TestSidecarOptions.MaxBodySizeBytes.
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

    // dapr: pkg/api/errors/state.go 39-57 (unknown store: InvalidArgument "state store X is not found") and pkg/components/state/state_config.go 130-135.
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

    // contrib: state/redis/redis.go 333-375 and 537-549: ttlInSeconds > 0 is EXPIRE, <= 0 is PERSIST (no expiry), a write
    // without it keeps the key's expiry, and a value that strconv.ParseInt rejects is a plain error, i.e. Internal.
    [Fact]
    public async Task A_value_saved_with_ttlInSeconds_disappears_after_it()
    {
        var clock = new ManualClock();
        await using var timed = await TestSidecar.StartAsync(new TestSidecarOptions { TimeProvider = clock });
        using var client = Sdk.Client(timed);
        static Dictionary<string, string> Ttl(string v) => new() { ["ttlInSeconds"] = v };
        await client.SaveStateAsync(Store, "short", "lived", metadata: Ttl("60"));
        await client.SaveStateAsync(Store, "long", "lived", metadata: Ttl("-1"));
        await client.SaveStateAsync(Store, "zero", "lived", metadata: Ttl("0"));
        await client.SaveStateAsync(Store, "kept", "v1", metadata: Ttl("60"));
        await client.SaveStateAsync(Store, "kept", "v2");                       // keeps its 60 s
        await client.SaveStateAsync(Store, "persisted", "v1", metadata: Ttl("60"));
        await client.SaveStateAsync(Store, "persisted", "v2", metadata: Ttl("-5")); // PERSIST

        clock.Now += TimeSpan.FromSeconds(59);
        Assert.Equal("lived", await client.GetStateAsync<string>(Store, "short"));
        clock.Now += TimeSpan.FromSeconds(1);

        Assert.Null(await client.GetStateAsync<string>(Store, "short"));
        Assert.Null(await client.GetStateAsync<string>(Store, "kept"));
        Assert.Equal(["long", "persisted", "zero"], timed.Snapshot(Store).Keys.Order());
        var bad = await Sdk.RpcFailure(() => client.SaveStateAsync(Store, "k", 1, metadata: Ttl("soon")));
        Assert.Equal(StatusCode.Internal, bad.StatusCode);
        Assert.Contains("failed to parse ttl from metadata", bad.Status.Detail);
    }

    // Test helpers, not daprd behaviour; SetState writes the Redis hash directly (contrib: state/redis/redis.go 38-52 layout).
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

    // dapr: pkg/api/http/healthz.go 58-88: both probes answer 204 once daprd is up (ready without WaitForApp).
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
