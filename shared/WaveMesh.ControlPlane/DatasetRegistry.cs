using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Models;

namespace WaveMesh.ControlPlane;

/// <summary>A registered data set: its archive in the artifact store and what it holds.</summary>
public sealed record DatasetRecord(string Name, string Digest, long Bytes, int Train, int Test, int Channels, int Height, int Width, int Classes,
    string Source, DateTime RegisteredAt);

/// <summary>
/// Data sets as artifacts: each name (fashion-mnist, cifar-10) maps to the digest of its archive
/// (<see cref="DatasetArchive"/>), registered from an upload (<c>PUT /api/datasets/{name}</c>) or, the first time a
/// pipeline needs one that nobody uploaded, from the control plane's own copy. Jobs then address the data by that digest,
/// so a worker on another machine fetches and verifies it instead of needing the same folder.
/// </summary>
public sealed class DatasetRegistry(IArtifactStore store, IRecordStore recordStore, IOptions<ControlOptions> options, ILogger<DatasetRegistry> log)
{
    readonly RecordFiles records = new(recordStore);
    readonly SemaphoreSlim gate = new(1, 1);
    readonly ControlOptions o = options.Value;

    const string Index = "control/datasets";
    static string Key(string name) => $"control/dataset/{name}";

    public Task<IReadOnlyList<DatasetRecord>> AllAsync(CancellationToken ct = default) => records.AllAsync<DatasetRecord>(Index, Key, ct);

    public Task<DatasetRecord?> GetAsync(string name, CancellationToken ct = default) => records.GetAsync<DatasetRecord>(Key(name), ct);

    /// <summary>
    /// Registers an uploaded archive (a tar, plain or gzipped, holding the data set's files, each plain or gzipped) as
    /// <paramref name="name"/>: checked, packed into the canonical archive and stored. The same data again changes nothing.
    /// </summary>
    public async Task<(DatasetRecord Record, bool Changed)> UploadAsync(string name, Stream body, long? length, string? claimedSha256, CancellationToken ct)
    {
        CheckName(name);
        var temp = await Upload.ReceiveAsync(body, length, claimedSha256, o, ".upload", ct);
        try
        {
            await using var archive = File.OpenRead(temp);
            return await StoreAsync(name, output => DatasetArchive.PackArchive(name, archive, output), "upload", ct);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// <paramref name="data"/> addressed by digest, for the jobs of a run: the registered archive, or, when none is
    /// registered yet, the control plane's own copy (the pipeline's <c>data.path</c>, the configured folder, or Debian's
    /// Fashion-MNIST) registered now. 400 when there is neither.
    /// </summary>
    public async Task<DatasetRef> ResolveAsync(DatasetRef data, CancellationToken ct = default)
    {
        if (data.Digest is not null) return data with { Path = null };
        if (await GetAsync(data.Name, ct) is { } registered) return data.Stored(registered.Digest);
        var folder = OwnCopy(data);
        var (record, _) = await StoreAsync(data.Name, output => DatasetArchive.PackFolder(data.Name, folder, output), $"folder {folder}", ct);
        return data.Stored(record.Digest);
    }

    /// <summary>
    /// Refuses (400) a data set that <see cref="ResolveAsync"/> could not provide, without storing anything: for a
    /// pipeline when it is registered, before any run of it.
    /// </summary>
    public async Task CheckAvailableAsync(DatasetRef data, CancellationToken ct = default)
    {
        if (data.Digest is not null || await GetAsync(data.Name, ct) is not null) return;
        OwnCopy(data);
    }

    /// <summary>The control plane's own folder of a data set nobody registered; 400 when it has none.</summary>
    string OwnCopy(DatasetRef data)
    {
        CheckName(data.Name);
        var folder = data.Path ?? o.DataPaths.GetValueOrDefault(data.Name) ?? (data.Name == DatasetArchive.FashionMnist ? DatasetArchive.FashionMnistFolder : null);
        if (folder is null || !Directory.Exists(folder))
            throw new ControlException(400, $"data set {data.Name} is not registered and the control plane has no copy of it" +
                                            (folder is null ? "" : $" ({folder} does not exist)") +
                                            $": upload it with PUT /api/datasets/{data.Name} (a tar of its files)");
        return folder;
    }

    async Task<(DatasetRecord, bool)> StoreAsync(string name, Func<Stream, DatasetSummary> pack, string source, CancellationToken ct)
    {
        Directory.CreateDirectory(o.UploadDirectory);
        var packed = Path.Combine(o.UploadDirectory, $"{Guid.NewGuid():N}.tar");
        try
        {
            DatasetSummary summary;
            await using (var output = new FileStream(packed, FileMode.CreateNew))
            {
                try { summary = pack(output); }
                catch (DatasetArchiveException e) { throw new ControlException(400, e.Message.ReplaceLineEndings(" ")); }
            }
            var info = await store.PutFileAsync(packed, DatasetArchive.Kind, new Dictionary<string, string> { [MetadataKeys.Dataset] = name }, ct);
            await gate.WaitAsync(ct);
            try
            {
                if (await GetAsync(name, ct) is { } existing && existing.Digest == info.Digest) return (existing, false);
                var record = new DatasetRecord(name, info.Digest, info.Size, summary.Train, summary.Test, summary.Channels, summary.Height, summary.Width,
                    summary.Classes, source, DateTime.UtcNow);
                await records.PutAsync(Key(name), record, ct);
                await records.AddToIndexAsync(Index, name, ct);
                log.LogInformation("data set {Name} = {Digest} ({Train} training, {Test} test examples, from {Source})", name, info.Digest, summary.Train, summary.Test, source);
                return (record, true);
            }
            finally
            {
                gate.Release();
            }
        }
        finally
        {
            if (File.Exists(packed)) File.Delete(packed);
        }
    }

    static void CheckName(string name)
    {
        if (!DatasetArchive.IsKnown(name))
            throw new ControlException(400, $"unknown data set '{name}': WaveMesh reads {DatasetArchive.FashionMnist} and {DatasetArchive.Cifar10}");
    }
}
