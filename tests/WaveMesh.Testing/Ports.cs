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

/// <summary>A host's readiness as its probes report it.</summary>
public static class Readiness
{
    /// <summary>
    /// Polls <c>GET /health</c> (every check, readiness included) until it answers 200; throws with the last answer when
    /// <paramref name="timeout"/> (default 60 s) passes first.
    /// </summary>
    public static async Task WaitUntilHealthyAsync(HttpClient client, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client.GetAsync("/health");
                if (response.IsSuccessStatusCode) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException e) { last = e.Message; }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{client.BaseAddress}health did not answer 200 in time; last answer: {last}");
    }
}
