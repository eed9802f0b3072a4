using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// Method descriptors of the part of <c>dapr.proto.runtime.v1.Dapr</c> the sidecar serves. Dapr.Protos ships the message
/// types and a client only, so the server side is described here by hand (names and types as in dapr's runtime proto).
/// </summary>
internal static class DaprMethods
{
    public const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    static Marshaller<T> For<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create(m => m.ToByteArray(), parser.ParseFrom);

    static Method<TReq, TResp> Unary<TReq, TResp>(string name, MessageParser<TReq> req, MessageParser<TResp> resp)
        where TReq : IMessage<TReq> where TResp : IMessage<TResp> =>
        new(MethodType.Unary, ServiceName, name, For(req), For(resp));

    public static readonly Method<GetStateRequest, GetStateResponse> GetState = Unary("GetState", GetStateRequest.Parser, GetStateResponse.Parser);
    public static readonly Method<GetBulkStateRequest, GetBulkStateResponse> GetBulkState = Unary("GetBulkState", GetBulkStateRequest.Parser, GetBulkStateResponse.Parser);
    public static readonly Method<SaveStateRequest, Empty> SaveState = Unary("SaveState", SaveStateRequest.Parser, Empty.Parser);
    public static readonly Method<DeleteStateRequest, Empty> DeleteState = Unary("DeleteState", DeleteStateRequest.Parser, Empty.Parser);
    public static readonly Method<DeleteBulkStateRequest, Empty> DeleteBulkState = Unary("DeleteBulkState", DeleteBulkStateRequest.Parser, Empty.Parser);
    public static readonly Method<ExecuteStateTransactionRequest, Empty> ExecuteStateTransaction = Unary("ExecuteStateTransaction", ExecuteStateTransactionRequest.Parser, Empty.Parser);
    public static readonly Method<PublishEventRequest, Empty> PublishEvent = Unary("PublishEvent", PublishEventRequest.Parser, Empty.Parser);
    public static readonly Method<GetMetadataRequest, GetMetadataResponse> GetMetadata = Unary("GetMetadata", GetMetadataRequest.Parser, GetMetadataResponse.Parser);
}

/// <summary>
/// The gRPC service. Grpc.AspNetCore finds the handlers by the method names the binder registers; they must be public
/// virtual instance methods taking (request, ServerCallContext).
/// </summary>
[BindServiceMethod(typeof(DaprGrpcService), nameof(BindService))]
internal class DaprGrpcService(TestSidecar sidecar)
{
    public static void BindService(ServiceBinderBase binder, DaprGrpcService? service)
    {
        binder.AddMethod(DaprMethods.GetState, service is null ? null! : service.GetState);
        binder.AddMethod(DaprMethods.GetBulkState, service is null ? null! : service.GetBulkState);
        binder.AddMethod(DaprMethods.SaveState, service is null ? null! : service.SaveState);
        binder.AddMethod(DaprMethods.DeleteState, service is null ? null! : service.DeleteState);
        binder.AddMethod(DaprMethods.DeleteBulkState, service is null ? null! : service.DeleteBulkState);
        binder.AddMethod(DaprMethods.ExecuteStateTransaction, service is null ? null! : service.ExecuteStateTransaction);
        binder.AddMethod(DaprMethods.PublishEvent, service is null ? null! : service.PublishEvent);
        binder.AddMethod(DaprMethods.GetMetadata, service is null ? null! : service.GetMetadata);
    }

    static readonly Empty None = new();

    Task<T> Run<T>(string rpc, Func<T> body)
    {
        sidecar.Counters.Count(rpc);
        try
        {
            return Task.FromResult(body());
        }
        catch (RpcException)
        {
            sidecar.Counters.CountFailure();
            throw;
        }
    }

    public virtual Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context) => Run("GetState", () =>
    {
        // daprd: pkg/api/grpc/grpc.go 650-712: a missing key is empty data and ETag "" (705-710), not an error.
        var response = new GetStateResponse();
        if (sidecar.State.Get(request.StoreName, request.Key) is { } item)
        {
            response.Data = ByteString.CopyFrom(item.Value);
            response.Etag = item.ETag;
        }
        return response;
    });

    public virtual Task<GetBulkStateResponse> GetBulkState(GetBulkStateRequest request, ServerCallContext context) => Run("GetBulkState", () =>
    {
        // daprd: pkg/api/grpc/grpc.go 574-648: one item per key, in order; a missing key is an item without data.
        var response = new GetBulkStateResponse();
        foreach (var (key, item) in sidecar.State.GetBulk(request.StoreName, request.Keys))
        {
            var bulk = new BulkStateItem { Key = key };
            if (item is { } i)
            {
                bulk.Data = ByteString.CopyFrom(i.Value);
                bulk.Etag = i.ETag;
            }
            response.Items.Add(bulk);
        }
        return response;
    });

    public virtual Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context) => Run("SaveState", () =>
    {
        // daprd: pkg/api/grpc/grpc.go 714-796.
        sidecar.State.Find(request.StoreName);
        if (request.States.Count == 0) return None;
        var writes = new List<StateWrite>();
        foreach (var s in request.States)
        {
            if (string.IsNullOrEmpty(s.Key))
                throw new RpcException(new Status(StatusCode.InvalidArgument, "state key cannot be empty"));
            // grpc.go 744-748: with metadata contentType application/json the value must be JSON (the error is returned
            // as it is, so the gRPC code is Unknown).
            if (s.Metadata.TryGetValue("contentType", out var ct) && ct == "application/json" && !GoJson.TryUnmarshal(s.Value.Span, out _))
                throw new RpcException(new Status(StatusCode.Unknown, "invalid character in the JSON value"));
            writes.Add(ToWrite(s, s.Value.ToByteArray()));
        }
        if (sidecar.State.ApplyEach(request.StoreName, writes) is { } error)
            throw new RpcException(new Status(error.Code, $"failed saving state in state store {request.StoreName}: {error.Message}"));
        return None;
    });

    public virtual Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context) => Run("DeleteState", () =>
    {
        // daprd: grpc.go 813-861. One attempt: daprd would retry an ETag mismatch on delete under the statestore
        // outbound retry policy (841-846), but dapr/resiliency.yaml gives statestore outbound no retry.
        var write = new StateWrite(request.Key, null, request.Etag?.Value, Concurrency(request.Options), request.Metadata);
        if (sidecar.State.ApplyEach(request.StoreName, [write]) is { } error)
            throw new RpcException(new Status(error.Code, $"failed deleting state with key {request.Key}: {error.Message}"));
        return None;
    });

    public virtual Task<Empty> DeleteBulkState(DeleteBulkStateRequest request, ServerCallContext context) => Run("DeleteBulkState", () =>
    {
        // daprd: grpc.go 863-916.
        sidecar.State.Find(request.StoreName);
        var writes = request.States.Select(s => ToWrite(s, null)).ToList();
        if (writes.Count == 0) return None;
        if (sidecar.State.ApplyEach(request.StoreName, writes) is { } error)
            throw new RpcException(new Status(error.Code, $"failed deleting state in state store {request.StoreName}: {error.Message}"));
        return None;
    });

    public virtual Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context) => Run("ExecuteStateTransaction", () =>
    {
        // daprd: grpc.go 925-1058.
        var store = sidecar.State.Find(request.StoreName);
        var writes = new List<StateWrite>();
        foreach (var op in request.Operations)
        {
            var item = op.Request ?? new StateItem();
            StateStores.RedisKey(store, item.Key);
            writes.Add(op.OperationType switch
            {
                "upsert" => ToWrite(item, item.Value.ToByteArray()),
                "delete" => ToWrite(item, null),
                // grpc.go 989-993: an unknown operation type is Unimplemented.
                _ => throw new RpcException(new Status(StatusCode.Unimplemented, $"operation type {op.OperationType} not supported")),
            });
        }
        // grpc.go 1052-1056: any failure of the store's Multi (an ETag mismatch included) is Internal.
        if (sidecar.State.Transact(request.StoreName, writes) is { } error)
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: {error}"));
        return None;
    });

    public virtual Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context) => Run("PublishEvent", () =>
    {
        // daprd: pkg/diagnostics/grpc_tracing.go 296-321: the trace context of the call comes from grpc-trace-bin or,
        // as the .NET gRPC client sends it, the traceparent request header; daprd's span is a child of it (99-113).
        var caller = TraceContext.Parse(context.RequestHeaders.GetValue("traceparent"));
        sidecar.Publish(request, TraceContext.ChildOf(caller), caller);
        return None;
    });

    public virtual Task<GetMetadataResponse> GetMetadata(GetMetadataRequest request, ServerCallContext context) => Run("GetMetadata", sidecar.BuildMetadata);

    static StateWrite ToWrite(StateItem item, byte[]? value) =>
        new(item.Key, value, item.Etag?.Value, Concurrency(item.Options), item.Metadata);

    static WriteConcurrency Concurrency(StateOptions? options) => options?.Concurrency switch
    {
        StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite => WriteConcurrency.FirstWrite,
        StateOptions.Types.StateConcurrency.ConcurrencyLastWrite => WriteConcurrency.LastWrite,
        _ => WriteConcurrency.Unspecified,
    };
}

/// <summary>daprd's API token check on gRPC calls (header <c>dapr-api-token</c>).</summary>
internal sealed class ApiTokenInterceptor(TestSidecar sidecar) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var expected = sidecar.Options.DaprApiToken;
        if (!string.IsNullOrEmpty(expected))
        {
            var given = context.RequestHeaders.GetValue(TestSidecar.ApiTokenHeader);
            if (given is null)
            {
                sidecar.Counters.CountFailure();
                throw new RpcException(new Status(StatusCode.Unauthenticated, "missing api token in request metadata"));
            }
            if (!string.Equals(given, expected, StringComparison.Ordinal))
            {
                sidecar.Counters.CountFailure();
                throw new RpcException(new Status(StatusCode.Unauthenticated, "authentication error: api token mismatch"));
            }
        }
        return continuation(request, context);
    }
}
