using Dapr;
using Dapr.Client;
using Grpc.Core;

namespace WaveMesh.Transport.Dapr;

/// <summary>State operations the Dapr SDK has no single call for.</summary>
static class DaprState
{
    /// <summary>Writes <paramref name="value"/> only if <paramref name="key"/> does not exist yet (first write wins).</summary>
    public static async Task<bool> TryCreateAsync(DaprClient dapr, string store, string key, ReadOnlyMemory<byte> value, CancellationToken cancellation)
    {
        try
        {
            await dapr.SaveByteStateAsync(store, key, value, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: cancellation);
            return true;
        }
        catch (DaprException e) when (e.InnerException is RpcException { StatusCode: StatusCode.Aborted })
        {
            return false;
        }
    }
}
