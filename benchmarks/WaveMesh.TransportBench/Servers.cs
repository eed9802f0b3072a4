using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace WaveMesh.TransportBench;

/// <summary>Progress lines with the time since the start.</summary>
public static class Log
{
    static readonly Stopwatch Clock = Stopwatch.StartNew();
    public static void Line(string text) => Console.WriteLine($"[{Clock.Elapsed.TotalSeconds,7:F1} s] {text}");
}

/// <summary>
/// The servers of scripts/services.sh (Redis 127.0.0.1:6390, RabbitMQ 127.0.0.1:5673, management 15673), or those named
/// by WAVEMESH_TEST_REDIS, WAVEMESH_TEST_RABBITMQ and WAVEMESH_TEST_RABBITMQ_MANAGEMENT, as the integration tests use them.
/// </summary>
public sealed class Servers : IAsyncDisposable
{
    static string Env(string name, string fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;

    public string Redis { get; } = Env("WAVEMESH_TEST_REDIS", "127.0.0.1:6390");
    public string RabbitMqAddress { get; } = Env("WAVEMESH_TEST_RABBITMQ", "127.0.0.1:5673");
    public string ManagementAddress { get; } = Env("WAVEMESH_TEST_RABBITMQ_MANAGEMENT", "127.0.0.1:15673");
    public string RabbitMqHost => RabbitMqAddress.Split(':')[0];
    public ushort RabbitMqPort => ushort.Parse(RabbitMqAddress.Split(':')[1]);
    public string RabbitMqUser => "guest";
    public string RabbitMqPassword => "guest";

    readonly HttpClient management;
    ConnectionMultiplexer? redis;

    public Servers()
    {
        management = new HttpClient
        {
            BaseAddress = new Uri($"http://{ManagementAddress}/api/"),
            Timeout = TimeSpan.FromSeconds(15),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.ASCII.GetBytes($"{RabbitMqUser}:{RabbitMqPassword}"))) },
        };
    }

    public IConnectionMultiplexer RedisConnection => redis ?? throw new InvalidOperationException("not connected");

    /// <summary>Connects to Redis and checks RabbitMQ answers; returns the problems (empty when all is well).</summary>
    public async Task<List<string>> CheckAsync(bool needRabbitMq)
    {
        var problems = new List<string>();
        try
        {
            var options = ConfigurationOptions.Parse(Redis);
            options.ConnectTimeout = 3000;
            redis = await ConnectionMultiplexer.ConnectAsync(options);
            await redis.GetDatabase().PingAsync();
        }
        catch (Exception e) { problems.Add($"Redis at {Redis}: {e.Message}"); }
        if (needRabbitMq)
        {
            if (!await Answers(RabbitMqAddress)) problems.Add($"RabbitMQ does not answer at {RabbitMqAddress}");
            try { (await management.GetAsync("overview")).EnsureSuccessStatusCode(); }
            catch (Exception e) { problems.Add($"RabbitMQ management API at {ManagementAddress}: {e.Message}"); }
        }
        return problems;
    }

    static async Task<bool> Answers(string address)
    {
        var parts = address.Split(':');
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await client.ConnectAsync(parts[0], int.Parse(parts[1]), timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException) { return false; }
    }

    public async Task<string> RedisVersionAsync()
    {
        try
        {
            // INFO is an admin command to StackExchange.Redis: a short-lived connection of its own may send it.
            var options = ConfigurationOptions.Parse(Redis);
            options.AllowAdmin = true;
            await using var admin = await ConnectionMultiplexer.ConnectAsync(options);
            var info = await admin.GetServers().First().InfoAsync("server");
            return info.SelectMany(g => g).FirstOrDefault(kv => kv.Key == "redis_version").Value ?? "?";
        }
        catch (Exception e) { return $"? ({e.Message})"; }
    }

    public async Task<string> RabbitMqVersionAsync()
    {
        try
        {
            using var doc = JsonDocument.Parse(await management.GetStringAsync("overview"));
            return doc.RootElement.GetProperty("rabbitmq_version").GetString() ?? "?";
        }
        catch (Exception e) { return $"? ({e.Message})"; }
    }

    /// <summary>Deletes every queue and exchange whose name starts with <paramref name="prefix"/>; returns how many.</summary>
    public async Task<int> DeleteBrokerEntitiesAsync(string prefix)
    {
        int deleted = 0;
        foreach (var kind in new[] { "queues", "exchanges" })
        {
            using var doc = JsonDocument.Parse(await management.GetStringAsync($"{kind}/%2F?columns=name"));
            foreach (var name in doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!)
                         .Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList())
                if ((await management.DeleteAsync($"{kind}/%2F/{Uri.EscapeDataString(name)}")).IsSuccessStatusCode) deleted++;
        }
        return deleted;
    }

    /// <summary>Deletes every Redis key starting with <paramref name="keyPrefix"/> (which must not hold glob characters); returns how many.</summary>
    public async Task<long> DeleteRedisKeysAsync(string keyPrefix)
    {
        if (keyPrefix.IndexOfAny(['*', '?', '[', ']', '\\']) >= 0) throw new ArgumentException("glob characters in the key prefix", nameof(keyPrefix));
        var server = RedisConnection.GetServers().First();
        var db = RedisConnection.GetDatabase();
        long deleted = 0;
        var batch = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: keyPrefix + "*", pageSize: 500))
        {
            batch.Add(key);
            if (batch.Count == 500) { deleted += await db.KeyDeleteAsync([.. batch]); batch.Clear(); }
        }
        if (batch.Count > 0) deleted += await db.KeyDeleteAsync([.. batch]);
        return deleted;
    }

    public async ValueTask DisposeAsync()
    {
        management.Dispose();
        if (redis is not null) await redis.DisposeAsync();
    }
}
