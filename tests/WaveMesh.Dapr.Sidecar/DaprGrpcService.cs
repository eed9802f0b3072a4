using System.Globalization;
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
        var writes = request.States.Select(s => ToWrite(s, s.Value.ToByteArray())).ToList();
        sidecar.State.Apply(request.StoreName, writes, StatusCode.Aborted, $"failed saving state in state store {request.StoreName}: {{0}}");
        return None;
    });

    public virtual Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context) => Run("DeleteState", () =>
    {
        var write = new StateWrite(request.Key, null, request.Etag?.Value, Concurrency(request.Options), null);
        sidecar.State.Apply(request.StoreName, [write], StatusCode.Aborted, $"failed deleting state with key {request.Key}: {{0}}");
        return None;
    });

    public virtual Task<Empty> DeleteBulkState(DeleteBulkStateRequest request, ServerCallContext context) => Run("DeleteBulkState", () =>
    {
        var writes = request.States.Select(s => ToWrite(s, null)).ToList();
        sidecar.State.Apply(request.StoreName, writes, StatusCode.Aborted, $"failed deleting state in state store {request.StoreName}: {{0}}");
        return None;
    });

    public virtual Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context) => Run("ExecuteStateTransaction", () =>
    {
        var writes = new List<StateWrite>();
        foreach (var op in request.Operations)
        {
            var item = op.Request ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "transaction operation without a request"));
            writes.Add(op.OperationType switch
            {
                "upsert" => ToWrite(item, item.Value.ToByteArray()),
                "delete" => ToWrite(item, null),
                _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"operation type {op.OperationType} not supported")),
            });
        }
        // daprd reports any failure of the store's Multi (an ETag mismatch included) as Internal.
        sidecar.State.Apply(request.StoreName, writes, StatusCode.Internal, "error while executing state transaction: {0}");
        return None;
    });

    public virtual Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context) => Run("PublishEvent", () =>
    {
        sidecar.Publish(request, context.RequestHeaders.GetValue("traceparent"), context.RequestHeaders.GetValue("tracestate"));
        return None;
    });

    public virtual Task<GetMetadataResponse> GetMetadata(GetMetadataRequest request, ServerCallContext context) => Run("GetMetadata", sidecar.BuildMetadata);

    static StateWrite ToWrite(StateItem item, byte[]? value)
    {
        TimeSpan? ttl = null;
        if (item.Metadata.TryGetValue("ttlInSeconds", out var text))
        {
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) || seconds < -1)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"incorrect value for metadata 'ttlInSeconds': {text}"));
            if (seconds >= 0) ttl = TimeSpan.FromSeconds(seconds);
        }
        return new StateWrite(item.Key, value, item.Etag?.Value, Concurrency(item.Options), ttl);
    }

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
