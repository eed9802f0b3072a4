using System.Net.Sockets;

namespace WaveMesh.Testing;

/// <summary>Whether a server answers on a TCP port: how the tests tell "not started" from "not working".</summary>
public static class Ports
{
    /// <summary>True when <paramref name="address"/> (host:port) accepts a TCP connection within <paramref name="timeout"/> (default 3 s).</summary>
    public static async Task<bool> AnswersAsync(string address, TimeSpan? timeout = null)
    {
        var parts = address.Split(':');
        using var client = new TcpClient();
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(3));
        try
        {
            await client.ConnectAsync(parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), limit.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException) { return false; }
    }
}
