using StackExchange.Redis;
using WaveMesh.Artifacts;

namespace WaveMesh.Transport.Redis;

/// <summary>Where WaveMesh finds Redis when it talks to it directly (no Dapr sidecar).</summary>
public sealed class RedisOptions
{
    public const string Section = "WaveMesh:Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. "localhost:6379,password=...".</summary>
    public string Configuration { get; set; } = "localhost:6379";
    public string KeyPrefix { get; set; } = "wavemesh:";
    public int ChunkBytes { get; set; } = 1 << 20;
}

/// <summary>
/// The shared key/value store on Redis: each key is a hash of its value and a version; create-if-absent,
/// compare-and-swap and versioned delete are single Lua scripts, so they are atomic across every client.
/// </summary>
public sealed class RedisKeyValueStore(IConnectionMultiplexer redis, RedisOptions options) : IKeyValueStore
{
    const string Value = "v";
    const string Version = "ver";
    readonly IDatabase db = redis.GetDatabase();

    static readonly LuaScript Create = LuaScript.Prepare(
        "if redis.call('EXISTS', @key) == 1 then return 0 end " +
        "redis.call('HSET', @key, 'v', @value, 'ver', @version) return 1");
    static readonly LuaScript Replace = LuaScript.Prepare(
        "if redis.call('HGET', @key, 'ver') ~= @expected then return 0 end " +
        "redis.call('HSET', @key, 'v', @value, 'ver', @version) return 1");
    static readonly LuaScript Delete = LuaScript.Prepare(
        "local current = redis.call('HGET', @key, 'ver') " +
        "if not current then return 0 end " +
        "if @expected ~= '' and current ~= @expected then return 0 end " +
        "redis.call('DEL', @key) return 1");

    public int MaxValueBytes => options.ChunkBytes;

    RedisKey Key(string key) => options.KeyPrefix + key;

    static string NewVersion() => Guid.NewGuid().ToString("N");

    public async Task<ReadOnlyMemory<byte>?> GetAsync(string key, CancellationToken cancellation = default)
    {
        var value = await db.HashGetAsync(Key(key), Value);
        // Not "IsNull ? null : (ReadOnlyMemory<byte>)bytes": there the null literal converts to an EMPTY ReadOnlyMemory,
        // so a missing key read as an empty value.
        if (value.IsNull) return null;
        return new ReadOnlyMemory<byte>((byte[])value!);
    }

    public async Task<(ReadOnlyMemory<byte>? Value, string? Version)> GetVersionedAsync(string key, CancellationToken cancellation = default)
    {
        var fields = await db.HashGetAsync(Key(key), [Value, Version]);
        if (fields[0].IsNull) return (default(ReadOnlyMemory<byte>?), null);
        return (new ReadOnlyMemory<byte>((byte[])fields[0]!), (string?)fields[1]);
    }

    public Task SetAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default) =>
        db.HashSetAsync(Key(key), [new HashEntry(Value, value), new HashEntry(Version, NewVersion())]);

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellation = default) =>
        (int)await db.ScriptEvaluateAsync(Create, new { key = Key(key), value = (RedisValue)value, version = NewVersion() }) == 1;

    public async Task<bool> TryReplaceAsync(string key, ReadOnlyMemory<byte> value, string version, CancellationToken cancellation = default) =>
        (int)await db.ScriptEvaluateAsync(Replace, new { key = Key(key), value = (RedisValue)value, expected = version, version = NewVersion() }) == 1;

    public async Task<bool> DeleteAsync(string key, string? version = null, CancellationToken cancellation = default) =>
        (int)await db.ScriptEvaluateAsync(Delete, new { key = Key(key), expected = version ?? "" }) == 1;
}
