using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Testing;

namespace WaveMesh.Stages.Tests;

/// <summary>
/// A job that addresses its data set by digest gets the archive from the store, verified, and loads exactly what a
/// worker with the folder would load; a damaged archive in the store is refused, never loaded.
/// </summary>
public sealed class Fetching_data_sets : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    string TinyFashionMnist() => TinyDatasets.WriteFashionMnist(System.IO.Path.Combine(folder.Path, "fashion"));

    async Task<string> StoreArchiveAsync(string dir)
    {
        var archive = System.IO.Path.Combine(folder.Path, "fashion.tar");
        using (var output = File.Create(archive)) DatasetArchive.PackFolder(DatasetArchive.FashionMnist, dir, output);
        return (await folder.Store().PutFileAsync(archive, DatasetArchive.Kind)).Digest;
    }

    [Fact]
    public async Task By_digest_a_worker_loads_what_the_folder_holds()
    {
        var dir = TinyFashionMnist();
        var digest = await StoreArchiveAsync(dir);
        var cache = System.IO.Path.Combine(folder.Path, "cache");

        var fromStore = new Datasets(cacheDirectory: cache).Load(new DatasetRef().Stored(digest), folder.Store());
        var fromFolder = new Datasets().Load(new DatasetRef(Path: dir));

        Assert.Equal(30, fromStore.Train.Count);
        Assert.Equal(10, fromStore.Test.Count);
        Assert.True(fromStore.Train.Images.eq(fromFolder.Train.Images).all().item<bool>());
        Assert.True(fromStore.Test.Labels.eq(fromFolder.Test.Labels).all().item<bool>());
        Assert.Equal(fromFolder.Normalization.Mean, fromStore.Normalization.Mean);
        Assert.Equal(fromFolder.Normalization.Std, fromStore.Normalization.Std);
        Assert.True(Directory.Exists(System.IO.Path.Combine(cache, digest)), "extracted once, into a folder named by the digest");
    }

    [Fact]
    public async Task A_damaged_archive_in_the_store_is_refused()
    {
        var digest = await StoreArchiveAsync(TinyFashionMnist());
        var stored = System.IO.Path.Combine(folder.StoreRoot, "objects", digest[..2], digest);
        var bytes = File.ReadAllBytes(stored);
        bytes[5000] ^= 1;
        File.SetAttributes(stored, FileAttributes.Normal);
        File.WriteAllBytes(stored, bytes);
        var cache = System.IO.Path.Combine(folder.Path, "cache");

        Assert.Throws<ArtifactCorruptException>(() => new Datasets(cacheDirectory: cache).Load(new DatasetRef().Stored(digest), folder.Store()));
        Assert.False(Directory.Exists(System.IO.Path.Combine(cache, digest)));
    }
}
