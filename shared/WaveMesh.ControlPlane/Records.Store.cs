using WaveMesh.Artifacts;
using WaveMesh.Contracts;

namespace WaveMesh.ControlPlane;

/// <summary>The control plane's keyed JSON records (contract JSON rules) and the name indexes that list them.</summary>
sealed class RecordFiles(IRecordStore store)
{
    public async Task<T?> GetAsync<T>(string key, CancellationToken ct) where T : class =>
        await store.GetRecordAsync(key, ct) is { } json ? ContractJson.Deserialize<T>(json) : null;

    public Task PutAsync<T>(string key, T value, CancellationToken ct) => store.SetRecordAsync(key, ContractJson.Serialize(value!), ct);

    public async Task<List<string>> IndexAsync(string key, CancellationToken ct) => await GetAsync<List<string>>(key, ct) ?? [];

    public async Task AddToIndexAsync(string key, string item, CancellationToken ct)
    {
        var list = await IndexAsync(key, ct);
        if (list.Contains(item)) return;
        list.Add(item);
        await PutAsync(key, list, ct);
    }

    /// <summary>Every record an index names, in index order (names whose record is gone are skipped).</summary>
    public async Task<IReadOnlyList<T>> AllAsync<T>(string index, Func<string, string> key, CancellationToken ct) where T : class
    {
        var result = new List<T>();
        foreach (var name in await IndexAsync(index, ct))
            if (await GetAsync<T>(key(name), ct) is { } record) result.Add(record);
        return result;
    }
}
