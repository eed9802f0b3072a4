using System.Globalization;
using Grpc.Core;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>Concurrency mode of one write, as in StateOptions.concurrency.</summary>
internal enum WriteConcurrency { Unspecified, FirstWrite, LastWrite }

/// <summary>One write inside a SaveState, DeleteState, DeleteBulkState or ExecuteStateTransaction request.</summary>
internal sealed record StateWrite(string Key, byte[]? Value, string? ETag, WriteConcurrency Concurrency, TimeSpan? Ttl)
{
    public bool IsDelete => Value is null;
}

/// <summary>
/// The in-memory state stores. Every write gets a fresh ETag (a counter shared by all stores, as a decimal string);
/// a request's writes are checked against the store as left by the writes before them and applied only if all pass.
/// </summary>
internal sealed class StateStores
{
    readonly Dictionary<string, Store> stores;
    readonly TimeProvider clock;
    long etagCounter;

    public StateStores(IEnumerable<string> names, TimeProvider clock)
    {
        stores = names.Distinct(StringComparer.Ordinal).ToDictionary(n => n, _ => new Store(), StringComparer.Ordinal);
        this.clock = clock;
    }

    public IEnumerable<string> Names => stores.Keys;

    sealed class Store
    {
        public readonly Lock Gate = new();
        public readonly Dictionary<string, Entry> Items = new(StringComparer.Ordinal);
    }

    internal sealed record Entry(byte[] Value, string ETag, DateTimeOffset? ExpiresAt);

    Store Find(string storeName)
    {
        // daprd: no store at all is FailedPrecondition; an unknown name is InvalidArgument (ERR_STATE_STORE_NOT_FOUND).
        if (stores.Count == 0) throw new RpcException(new Status(StatusCode.FailedPrecondition, "state store is not configured"));
        if (string.IsNullOrEmpty(storeName) || !stores.TryGetValue(storeName, out var store))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"state store {storeName} is not found"));
        return store;
    }

    static void CheckKey(string key)
    {
        if (string.IsNullOrEmpty(key)) throw new RpcException(new Status(StatusCode.InvalidArgument, "state key is empty"));
        // daprd prefixes keys with "<app-id>||" and refuses keys that contain the separator.
        if (key.Contains("||", StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"input key/keyPrefix '{key}' can't contain '||'"));
    }

    Entry? Live(Store store, string key)
    {
        if (!store.Items.TryGetValue(key, out var e)) return null;
        if (e.ExpiresAt is { } at && at <= clock.GetUtcNow())
        {
            store.Items.Remove(key);
            return null;
        }
        return e;
    }

    public (byte[] Value, string ETag)? Get(string storeName, string key)
    {
        var store = Find(storeName);
        CheckKey(key);
        lock (store.Gate)
        {
            var e = Live(store, key);
            return e is null ? null : (e.Value, e.ETag);
        }
    }

    public List<(string Key, (byte[] Value, string ETag)? Item)> GetBulk(string storeName, IEnumerable<string> keys)
    {
        var store = Find(storeName);
        var list = keys.ToList();
        foreach (var k in list) CheckKey(k);
        lock (store.Gate)
        {
            return list.Select(k => (k, Live(store, k) is { } e ? ((byte[], string)?)(e.Value, e.ETag) : null)).ToList();
        }
    }

    /// <summary>
    /// Applies <paramref name="writes"/> all-or-nothing. On a failed check throws <paramref name="conflictCode"/> (Aborted for
    /// SaveState/DeleteState as daprd maps an ETag mismatch; Internal for a transaction, which daprd reports as
    /// "error while executing state transaction").
    /// </summary>
    public void Apply(string storeName, IReadOnlyList<StateWrite> writes, StatusCode conflictCode, string errorFormat)
    {
        var store = Find(storeName);
        foreach (var w in writes) CheckKey(w.Key);
        lock (store.Gate)
        {
            // What the store looks like after the writes checked so far (null = deleted).
            var view = new Dictionary<string, Entry?>(StringComparer.Ordinal);
            Entry? Current(string key) => view.TryGetValue(key, out var v) ? v : Live(store, key);

            foreach (var w in writes)
            {
                var current = Current(w.Key);
                string? problem = null;
                if (!string.IsNullOrEmpty(w.ETag))
                {
                    if (current is null) problem = $"possible etag mismatch: key {w.Key} does not exist";
                    else if (!string.Equals(current.ETag, w.ETag, StringComparison.Ordinal)) problem = $"possible etag mismatch: key {w.Key} has another etag";
                }
                else if (!w.IsDelete && w.Concurrency == WriteConcurrency.FirstWrite && current is not null)
                {
                    problem = $"possible etag mismatch: key {w.Key} already exists and first-write concurrency was asked without an etag";
                }
                if (problem is not null) throw new RpcException(new Status(conflictCode, string.Format(CultureInfo.InvariantCulture, errorFormat, problem)));

                view[w.Key] = w.IsDelete
                    ? null
                    : new Entry(w.Value!, NextETag(), w.Ttl is { } ttl ? clock.GetUtcNow() + ttl : null);
            }

            foreach (var (key, entry) in view)
            {
                if (entry is null) store.Items.Remove(key);
                else store.Items[key] = entry;
            }
        }
    }

    string NextETag() => Interlocked.Increment(ref etagCounter).ToString(CultureInfo.InvariantCulture);

    public string Put(string storeName, string key, byte[] value)
    {
        var store = FindForHelper(storeName);
        lock (store.Gate)
        {
            var e = new Entry(value.ToArray(), NextETag(), null);
            store.Items[key] = e;
            return e.ETag;
        }
    }

    public IReadOnlyDictionary<string, byte[]> Snapshot(string storeName)
    {
        var store = FindForHelper(storeName);
        lock (store.Gate)
        {
            return store.Items.Keys.ToList()
                .Select(k => (k, e: Live(store, k)))
                .Where(x => x.e is not null)
                .ToDictionary(x => x.k, x => x.e!.Value.ToArray(), StringComparer.Ordinal);
        }
    }

    public void Corrupt(string storeName, string key, Func<byte[], byte[]> change)
    {
        var store = FindForHelper(storeName);
        lock (store.Gate)
        {
            var e = Live(store, key) ?? throw new KeyNotFoundException($"state store {storeName} has no key {key}");
            // Silent corruption: the bytes change, the ETag does not (as when a disk or a replica goes bad).
            store.Items[key] = e with { Value = change(e.Value.ToArray()) ?? throw new InvalidOperationException("change returned null") };
        }
    }

    Store FindForHelper(string storeName) =>
        stores.TryGetValue(storeName, out var s) ? s : throw new ArgumentException($"no state store named {storeName}", nameof(storeName));
}
