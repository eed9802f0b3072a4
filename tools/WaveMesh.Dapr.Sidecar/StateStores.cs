using System.Globalization;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>Concurrency mode of one write, as in StateOptions.concurrency.</summary>
internal enum WriteConcurrency { Unspecified, FirstWrite, LastWrite }

/// <summary>One upsert or delete of a SaveState, DeleteState, DeleteBulkState or ExecuteStateTransaction request.</summary>
internal sealed record StateWrite(string Key, byte[]? Value, string? ETag, WriteConcurrency Concurrency, IReadOnlyDictionary<string, string> Metadata)
{
    public bool IsDelete => Value is null;

    /// <summary>contrib: state/requests.go 63-66 / 114-117 (HasETag): an ETag is given and not empty.</summary>
    public bool HasETag => !string.IsNullOrEmpty(ETag);
}

/// <summary>An error of the state store, as components-contrib classifies it (contrib: state/errors.go 21-67).</summary>
internal sealed record StoreError(string Message, StoreError.Kind ErrorKind)
{
    public enum Kind { Plain, ETagMismatch, ETagInvalid }

    /// <summary>contrib: state/errors.go 49-63 (ETagError.Error): the kind's prefix, then the wrapped error.</summary>
    public static StoreError Mismatch(string inner) => new($"possible etag mismatch. error from state store: {inner}", Kind.ETagMismatch);
    public static StoreError Invalid(string inner) => new($"invalid etag value: {inner}", Kind.ETagInvalid);

    /// <summary>daprd: pkg/api/grpc/grpc.go 798-811 (getStateErrorCode): mismatch Aborted, invalid InvalidArgument, else Internal.</summary>
    public StatusCode Code => ErrorKind switch
    {
        Kind.ETagMismatch => StatusCode.Aborted,
        Kind.ETagInvalid => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    };
}

/// <summary>
/// The state stores, each an in-memory Redis used by components-contrib's state.redis v1.16.13
/// (contrib: state/redis/redis.go): every key is a hash {data, version[, first-write]} whose version (the ETag) starts
/// at 1 and is incremented by every write; a delete removes the hash, so the next write starts again at 1.
/// Keys are kept as daprd hands them to Redis with keyPrefix "name" (components/statestore.yaml): "&lt;store&gt;||&lt;key&gt;".
/// Each call is one attempt: dapr/resiliency.yaml gives statestore outbound no retry (and the breaker is not modelled).
/// </summary>
internal sealed class StateStores
{
    readonly Dictionary<string, Store> stores;
    readonly TimeProvider clock;

    public StateStores(IEnumerable<string> names, TimeProvider clock)
    {
        stores = names.Distinct(StringComparer.Ordinal).ToDictionary(n => n, n => new Store(n), StringComparer.Ordinal);
        this.clock = clock;
    }

    public IEnumerable<string> Names => stores.Keys;

    internal sealed class Store(string name)
    {
        public string Name { get; } = name;
        public readonly Lock Gate = new();
        public readonly Dictionary<string, Entry> Items = new(StringComparer.Ordinal);
    }

    internal sealed record Entry(byte[] Data, long Version, bool FirstWrite, DateTimeOffset? ExpiresAt);

    public Store Find(string storeName)
    {
        // daprd: pkg/api/universal/state_query.go 31-46 + pkg/api/errors/state.go 39-77: no store at all is
        // FailedPrecondition, an unknown name InvalidArgument.
        if (stores.Count == 0) throw new RpcException(new Status(StatusCode.FailedPrecondition, $"state store {storeName} is not configured"));
        if (!stores.TryGetValue(storeName, out var store))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"state store {storeName} is not found"));
        return store;
    }

    /// <summary>daprd: pkg/components/state/state_config.go 67-77 and 130-135: keys containing "||" are refused; keyPrefix name.</summary>
    public static string RedisKey(Store store, string key)
    {
        if (key.Contains("||", StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"input key/keyPrefix '{key}' can't contain '||'"));
        return store.Name + "||" + key;
    }

    Entry? Live(Store store, string redisKey)
    {
        if (!store.Items.TryGetValue(redisKey, out var e)) return null;
        if (e.ExpiresAt is { } at && at <= clock.GetUtcNow())
        {
            store.Items.Remove(redisKey);
            return null;
        }
        return e;
    }

    static string ETagOf(Entry e) => e.Version.ToString(CultureInfo.InvariantCulture);

    /// <summary>contrib: state/redis/redis.go 239-259 (HGETALL): a missing key is an empty response, not an error.</summary>
    public (byte[] Value, string ETag)? Get(string storeName, string key)
    {
        var store = Find(storeName);
        var redisKey = RedisKey(store, key);
        lock (store.Gate)
        {
            var e = Live(store, redisKey);
            return e is null ? null : (e.Data, ETagOf(e));
        }
    }

    public List<(string Key, (byte[] Value, string ETag)? Item)> GetBulk(string storeName, IEnumerable<string> keys)
    {
        var store = Find(storeName);
        var list = keys.Select(k => (k, RedisKey(store, k))).ToList();
        lock (store.Gate)
        {
            return list.Select(x => (x.k, Live(store, x.Item2) is { } e ? ((byte[], string)?)(e.Data, ETagOf(e)) : null)).ToList();
        }
    }

    // ---------------------------------------------------------------- Redis operations

    /// <summary>contrib: state/redis/redis.go 525-535 (parseETag): last-write or no ETag is 0, else strconv.Atoi.</summary>
    static bool TryParseETag(StateWrite w, out long version, out StoreError? error)
    {
        error = null;
        version = 0;
        if (w.Concurrency == WriteConcurrency.LastWrite || string.IsNullOrEmpty(w.ETag)) return true;
        if (long.TryParse(w.ETag, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out version)) return true;
        error = StoreError.Invalid($"strconv.Atoi: parsing \"{w.ETag}\": invalid syntax");
        return false;
    }

    /// <summary>contrib: state/redis/redis.go 537-549 (parseTTL): metadata ttlInSeconds, strconv.ParseInt base 10.</summary>
    static bool TryParseTtl(StateWrite w, out long? ttl, out StoreError? error)
    {
        ttl = null;
        error = null;
        if (!w.Metadata.TryGetValue("ttlInSeconds", out var text) || text.Length == 0) return true;
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            ttl = v;
            return true;
        }
        error = new StoreError($"failed to parse ttl from metadata: strconv.ParseInt: parsing \"{text}\": invalid syntax", StoreError.Kind.Plain);
        return false;
    }

    /// <summary>
    /// The Lua script setDefaultQuery (contrib: state/redis/redis.go 38-52): write when the key is absent, when its
    /// version equals the given one, or when it was never written with first-write and the given version is 0 (no
    /// ETag, or last-write). <paramref name="markFirstWrite"/> (ARGV[3] == "0") stores the first-write field, which
    /// stays until the key is deleted. Returns the Redis error text, or null.
    /// </summary>
    string? SetScript(Store store, string redisKey, long version, byte[] value, bool markFirstWrite)
    {
        var e = Live(store, redisKey);
        if (e is null || ETagOf(e) == version.ToString(CultureInfo.InvariantCulture) || (!e.FirstWrite && version == 0))
        {
            store.Items[redisKey] = new Entry(value.ToArray(), (e?.Version ?? 0) + 1, (e?.FirstWrite ?? false) || markFirstWrite, e?.ExpiresAt);
            return null;
        }
        return $"ERR failed to set key {redisKey}";
    }

    /// <summary>
    /// contrib: state/redis/redis.go 363-375: ttlInSeconds &gt; 0 is EXPIRE, &lt;= 0 is PERSIST, none keeps whatever expiry
    /// the key has (our statestore.yaml sets no store-wide ttlInSeconds).
    /// </summary>
    void ApplyTtl(Store store, string redisKey, long? ttl)
    {
        if (ttl is not { } seconds) return;
        if (Live(store, redisKey) is not { } e) return;
        store.Items[redisKey] = e with { ExpiresAt = seconds > 0 ? clock.GetUtcNow() + TimeSpan.FromSeconds(seconds) : null };
    }

    /// <summary>contrib: state/redis/redis.go 324-385 (Set).</summary>
    StoreError? Set(Store store, StateWrite w)
    {
        if (!TryParseETag(w, out var version, out var etagError)) return etagError;
        if (!TryParseTtl(w, out var ttl, out var ttlError)) return ttlError;
        var redisKey = RedisKey(store, w.Key);
        var failed = SetScript(store, redisKey, version, w.Value!, markFirstWrite: w.Concurrency == WriteConcurrency.FirstWrite);
        if (failed is not null)
        {
            // redis.go 355-361: with an ETag (even one last-write ignored) the failure is an ETag mismatch, without one
            // a plain error.
            return w.HasETag ? StoreError.Mismatch(failed) : new StoreError($"failed to set key {redisKey}: {failed}", StoreError.Kind.Plain);
        }
        ApplyTtl(store, redisKey, ttl);
        return null;
    }

    /// <summary>
    /// contrib: state/redis/redis.go 199-220 (Delete) with the Lua script delDefaultQuery (53-59): no ETag means "0",
    /// which always deletes; a missing key is deleted successfully; otherwise the version must equal the ETag (compared
    /// as text, so a non-numeric ETag is a mismatch). A failure is always an ETag mismatch.
    /// </summary>
    string? DeleteScript(Store store, string redisKey, string etag)
    {
        var e = Live(store, redisKey);
        if (e is null || ETagOf(e) == etag || etag == "0")
        {
            store.Items.Remove(redisKey);
            return null;
        }
        return $"ERR failed to delete {redisKey}";
    }

    StoreError? Delete(Store store, StateWrite w)
    {
        var redisKey = RedisKey(store, w.Key);
        var failed = DeleteScript(store, redisKey, w.HasETag ? w.ETag! : "0");
        return failed is null ? null : StoreError.Mismatch(failed);
    }

    // ---------------------------------------------------------------- what daprd's state API does with them

    /// <summary>
    /// SaveState / DeleteState / DeleteBulkState: daprd's PerformBulkStoreOperation (dapr: pkg/components/state/bulk.go
    /// 44-145): one item is one Set/Delete; several items are the default bulk store's one Set/Delete per item
    /// (contrib: state/bulk.go 117-156), not atomic. Several failures: all ETag errors make one ETag error (invalid if
    /// any was invalid); otherwise the joined errors, whose gRPC code daprd takes from the first ETag error among them
    /// (errors.As over errors.Join), else Internal. Null when everything succeeded.
    /// </summary>
    public StoreError? ApplyEach(string storeName, IReadOnlyList<StateWrite> writes)
    {
        var store = Find(storeName);
        foreach (var w in writes) RedisKey(store, w.Key); // daprd builds every request (and checks every key) first
        var errors = new List<StoreError>();
        lock (store.Gate)
        {
            foreach (var w in writes)
                if ((w.IsDelete ? Delete(store, w) : Set(store, w)) is { } e) errors.Add(e);
        }
        if (errors.Count == 0) return null;
        if (writes.Count == 1) return errors[0];
        var joined = string.Join("\n", errors.Select(e => e.Message));
        if (errors.All(e => e.ErrorKind != StoreError.Kind.Plain))
            return errors.Any(e => e.ErrorKind == StoreError.Kind.ETagInvalid) ? StoreError.Invalid(joined) : StoreError.Mismatch(joined);
        var firstETag = errors.FirstOrDefault(e => e.ErrorKind != StoreError.Kind.Plain);
        return new StoreError(joined, firstETag?.ErrorKind ?? StoreError.Kind.Plain);
    }

    /// <summary>
    /// ExecuteStateTransaction: contrib: state/redis/redis.go 388-446 (Multi). ETags and TTLs of the upserts are parsed
    /// first (an error there applies nothing); then the scripts run in one MULTI/EXEC, which does not roll back: every
    /// operation is executed, those that fail leave their key alone, and EXEC reports the first failure. The first-write
    /// field is not passed (ARGV[3]), so first-write concurrency is not honoured and never marks a key, but a key already
    /// marked still refuses writes without an ETag. An EXPIRE/PERSIST runs even when its upsert failed.
    /// </summary>
    public string? Transact(string storeName, IReadOnlyList<StateWrite> writes)
    {
        var store = Find(storeName);
        var prepared = new List<(StateWrite Write, string RedisKey, long Version, long? Ttl)>();
        foreach (var w in writes)
        {
            var redisKey = RedisKey(store, w.Key);
            if (w.IsDelete)
            {
                prepared.Add((w, redisKey, 0, null));
                continue;
            }
            if (!TryParseETag(w, out var version, out var etagError)) return etagError!.Message;
            if (!TryParseTtl(w, out var ttl, out var ttlError)) return ttlError!.Message;
            prepared.Add((w, redisKey, version, ttl));
        }
        string? first = null;
        lock (store.Gate)
        {
            foreach (var (w, redisKey, version, ttl) in prepared)
            {
                string? failed;
                if (w.IsDelete) failed = DeleteScript(store, redisKey, w.HasETag ? w.ETag! : "0");
                else
                {
                    failed = SetScript(store, redisKey, version, w.Value!, markFirstWrite: false);
                    ApplyTtl(store, redisKey, ttl);
                }
                first ??= failed;
            }
        }
        return first;
    }

    // ---------------------------------------------------------------- helpers for tests

    /// <summary>Writes a key directly in Redis (HSET data, HINCRBY version): no ETag or first-write check, expiry and first-write mark kept.</summary>
    public string Put(string storeName, string key, byte[] value)
    {
        var store = FindForHelper(storeName);
        var redisKey = store.Name + "||" + key;
        lock (store.Gate)
        {
            var e = Live(store, redisKey);
            var next = new Entry(value.ToArray(), (e?.Version ?? 0) + 1, e?.FirstWrite ?? false, e?.ExpiresAt);
            store.Items[redisKey] = next;
            return ETagOf(next);
        }
    }

    public IReadOnlyDictionary<string, byte[]> Snapshot(string storeName)
    {
        var store = FindForHelper(storeName);
        var prefix = store.Name + "||";
        lock (store.Gate)
        {
            return store.Items.Keys.ToList()
                .Select(k => (k, e: Live(store, k)))
                .Where(x => x.e is not null)
                .ToDictionary(x => x.k[prefix.Length..], x => x.e!.Data.ToArray(), StringComparer.Ordinal);
        }
    }

    public void Corrupt(string storeName, string key, Func<byte[], byte[]> change)
    {
        var store = FindForHelper(storeName);
        var redisKey = store.Name + "||" + key;
        lock (store.Gate)
        {
            var e = Live(store, redisKey) ?? throw new KeyNotFoundException($"state store {storeName} has no key {key}");
            // Silent corruption: the bytes change, the ETag does not (as when a disk or a replica goes bad).
            store.Items[redisKey] = e with { Data = change(e.Data.ToArray()) ?? throw new InvalidOperationException("change returned null") };
        }
    }

    Store FindForHelper(string storeName) =>
        stores.TryGetValue(storeName, out var s) ? s : throw new ArgumentException($"no state store named {storeName}", nameof(storeName));
}
