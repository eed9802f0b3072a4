using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

using WaveMesh.Testing;

namespace WaveMesh.RabbitMq.Tests.Infrastructure;

/// <summary>
/// The real servers these tests need: Redis and RabbitMQ (with its management plugin), by default the private ones of
/// <c>scripts/services.sh start</c>. WAVEMESH_TEST_REDIS and WAVEMESH_TEST_RABBITMQ (host:port) point elsewhere;
/// WAVEMESH_TEST_RABBITMQ_MANAGEMENT (host:port) names the management API. A server that does not answer fails the test.
/// </summary>
public static class Servers
{
    public static string Redis => Environment.GetEnvironmentVariable("WAVEMESH_TEST_REDIS") is { Length: > 0 } r ? r : "127.0.0.1:6390";
    static string RabbitMqAddress => Environment.GetEnvironmentVariable("WAVEMESH_TEST_RABBITMQ") is { Length: > 0 } r ? r : "127.0.0.1:5673";
    static string ManagementAddress => Environment.GetEnvironmentVariable("WAVEMESH_TEST_RABBITMQ_MANAGEMENT") is { Length: > 0 } r ? r : "127.0.0.1:15673";

    public static string RabbitMqHost => RabbitMqAddress.Split(':')[0];
    public static ushort RabbitMqPort => ushort.Parse(RabbitMqAddress.Split(':')[1]);
    public const string RabbitMqUser = "guest";
    public const string RabbitMqPassword = "guest";

    const string Hint = "run scripts/services.sh start (private Redis on 127.0.0.1:6390 and RabbitMQ on 127.0.0.1:5673, management on 15673), " +
                        "or point WAVEMESH_TEST_REDIS / WAVEMESH_TEST_RABBITMQ at running servers";

    static readonly HttpClient Management = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
    {
        BaseAddress = new Uri($"http://{ManagementAddress}/api/"),
        Timeout = TimeSpan.FromSeconds(15),
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.ASCII.GetBytes($"{RabbitMqUser}:{RabbitMqPassword}"))) },
    };

    /// <summary>Fails (never skips) with what to do when Redis, RabbitMQ or its management API does not answer.</summary>
    public static async Task RequireAsync(bool rabbitMq = true)
    {
        var problems = new List<string>();
        if (!await Answers(Redis)) problems.Add($"Redis does not answer at {Redis}");
        else
        {
            try
            {
                await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis + ",connectTimeout=3000");
                await redis.GetDatabase().PingAsync();
            }
            catch (Exception e) { problems.Add($"Redis at {Redis} does not answer PING ({e.Message})"); }
        }
        if (rabbitMq)
        {
            if (!await Answers(RabbitMqAddress)) problems.Add($"RabbitMQ does not answer at {RabbitMqAddress}");
            if (!await Answers(ManagementAddress)) problems.Add($"the RabbitMQ management API does not answer at {ManagementAddress}");
            else
            {
                try { (await Management.GetAsync("overview")).EnsureSuccessStatusCode(); }
                catch (Exception e) { problems.Add($"the RabbitMQ management API at {ManagementAddress} refused guest/guest ({e.Message})"); }
            }
        }
        if (problems.Count > 0) Assert.Fail($"{string.Join("; ", problems)}: {Hint}.");
    }

    static Task<bool> Answers(string address) => Ports.AnswersAsync(address);

    /// <summary>Waits until the broker accepts AMQP connections again (after a restart).</summary>
    public static async Task WaitForRabbitMqAsync(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await Answers(RabbitMqAddress) && (await Management.GetAsync("overview")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        Assert.Fail($"RabbitMQ did not come back at {RabbitMqAddress} within {timeout.TotalSeconds:F0} s");
    }

    /// <summary>How long the broker node has been up (a node that has just started reports it after a few seconds).</summary>
    public static async Task<TimeSpan> BrokerUptimeAsync()
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var doc = JsonDocument.Parse(await Management.GetStringAsync("nodes?columns=name,uptime"));
            if (doc.RootElement.EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } node
                && node.TryGetProperty("uptime", out var uptime) && uptime.ValueKind == JsonValueKind.Number)
                return TimeSpan.FromMilliseconds(uptime.GetInt64());
            if (DateTime.UtcNow > until) throw new TimeoutException("the RabbitMQ management API reports no node uptime");
            await Task.Delay(500);
        }
    }

    /// <summary>Messages published to, delivered from and acknowledged on a queue so far (the broker refreshes these every few seconds).</summary>
    public static async Task<(long Published, long Delivered, long Acknowledged)> QueueStatsAsync(string queue)
    {
        using var doc = JsonDocument.Parse(await Management.GetStringAsync($"queues/%2F/{Uri.EscapeDataString(queue)}"));
        if (!doc.RootElement.TryGetProperty("message_stats", out var stats)) return (0, 0, 0);
        return (Count(stats, "publish"), Count(stats, "deliver_get"), Count(stats, "ack"));
    }

    // ---- RabbitMQ management API -------------------------------------------------------------------------------

    public sealed record QueueInfo(string Name, long Messages, int Consumers, bool Durable, bool AutoDelete);

    /// <summary>Queues whose name starts with <paramref name="prefix"/> (message counts are refreshed every few seconds by the broker).</summary>
    public static async Task<IReadOnlyList<QueueInfo>> QueuesAsync(string prefix)
    {
        var json = await Management.GetStringAsync("queues/%2F?columns=name,messages,messages_ready,consumers,durable,auto_delete");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray()
            .Select(q => new QueueInfo(q.GetProperty("name").GetString()!,
                Count(q, "messages"),
                q.TryGetProperty("consumers", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0,
                q.GetProperty("durable").GetBoolean(), q.GetProperty("auto_delete").GetBoolean()))
            .Where(q => q.Name.StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
    }

    static long Count(JsonElement q, string name) =>
        q.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    /// <summary>Takes up to <paramref name="count"/> messages off a queue (acknowledging them) and returns their bodies and headers.</summary>
    public static async Task<IReadOnlyList<(string Payload, JsonElement Properties)>> GetMessagesAsync(string queue, int count)
    {
        var body = JsonSerializer.Serialize(new { count, ackmode = "ack_requeue_false", encoding = "auto", truncate = 50_000 });
        var answer = await Management.PostAsync($"queues/%2F/{Uri.EscapeDataString(queue)}/get", new StringContent(body, Encoding.UTF8, "application/json"));
        answer.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return doc.RootElement.EnumerateArray().Select(m => (m.GetProperty("payload").GetString()!, m.GetProperty("properties").Clone())).ToList();
    }

    /// <summary>Publishes raw bytes (no MassTransit envelope) straight to a queue through the default exchange.</summary>
    public static async Task PublishRawAsync(string queue, string payload, string? contentType)
    {
        var properties = new Dictionary<string, object> { ["delivery_mode"] = 2 };
        if (contentType is not null) properties["content_type"] = contentType;
        var body = JsonSerializer.Serialize(new { properties, routing_key = queue, payload, payload_encoding = "string" });
        var answer = await Management.PostAsync("exchanges/%2F/amq.default/publish", new StringContent(body, Encoding.UTF8, "application/json"));
        answer.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.True(doc.RootElement.GetProperty("routed").GetBoolean(), $"the broker routed nothing to queue {queue}");
    }

    /// <summary>Deletes every queue and exchange whose name starts with <paramref name="prefix"/>; returns how many.</summary>
    public static async Task<int> DeleteBrokerEntitiesAsync(string prefix)
    {
        int deleted = 0;
        foreach (var q in await QueuesAsync(prefix))
            if ((await Management.DeleteAsync($"queues/%2F/{Uri.EscapeDataString(q.Name)}")).IsSuccessStatusCode) deleted++;
        var json = await Management.GetStringAsync("exchanges/%2F?columns=name");
        using var doc = JsonDocument.Parse(json);
        foreach (var name in doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!)
                     .Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
            if ((await Management.DeleteAsync($"exchanges/%2F/{Uri.EscapeDataString(name)}")).IsSuccessStatusCode) deleted++;
        return deleted;
    }

    public static async Task<IReadOnlyList<string>> ExchangesAsync(string prefix)
    {
        var json = await Management.GetStringAsync("exchanges/%2F?columns=name");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!)
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    // ---- Redis ------------------------------------------------------------------------------------------------

    /// <summary>Deletes every Redis key starting with <paramref name="keyPrefix"/>; returns how many.</summary>
    public static async Task<long> DeleteRedisKeysAsync(IConnectionMultiplexer redis, string keyPrefix)
    {
        var server = redis.GetServers().First();
        var db = redis.GetDatabase();
        long deleted = 0;
        var batch = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: RedisPattern(keyPrefix) + "*", pageSize: 500))
        {
            batch.Add(key);
            if (batch.Count == 500) { deleted += await db.KeyDeleteAsync([.. batch]); batch.Clear(); }
        }
        if (batch.Count > 0) deleted += await db.KeyDeleteAsync([.. batch]);
        return deleted;
    }

    public static async Task<List<string>> RedisKeysAsync(IConnectionMultiplexer redis, string keyPrefix)
    {
        var keys = new List<string>();
        await foreach (var key in redis.GetServers().First().KeysAsync(pattern: RedisPattern(keyPrefix) + "*", pageSize: 500)) keys.Add(key!);
        return keys;
    }

    static string RedisPattern(string prefix)
    {
        var sb = new StringBuilder();
        foreach (var c in prefix)
        {
            if (c is '*' or '?' or '[' or ']' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }
}
