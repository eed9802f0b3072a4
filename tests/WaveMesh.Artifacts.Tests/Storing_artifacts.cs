using System.Text.Json;

namespace WaveMesh.Artifacts.Tests;

public sealed class Storing_artifacts : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Stores_a_file_under_the_sha256_of_its_bytes_and_hands_back_the_same_bytes()
    {
        // Longer than three 1 MiB copy buffers, and not a multiple of them.
        var bytes = TestData.RandomBytes((3 * 1024 * 1024) + 17, seed: 1);
        var source = _folder.Write("model.bin", bytes);
        var store = _folder.Store();

        var info = await store.PutFileAsync(source, "vit");
        var path = await store.GetFileAsync(info.Digest);

        Assert.Equal(TestData.Sha256(bytes), info.Digest);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Stores_a_stream_under_the_sha256_of_its_bytes_and_reads_it_back_through_a_stream()
    {
        var bytes = TestData.RandomBytes(300_000, seed: 2);
        var store = _folder.Store();

        var info = await store.PutAsync(new MemoryStream(bytes), "templates");
        await using var read = await store.OpenReadAsync(info.Digest);

        Assert.Equal(TestData.Sha256(bytes), info.Digest);
        Assert.Equal(bytes, await TestData.ReadToEndAsync(read));
    }

    [Fact]
    public async Task Stores_a_stream_that_delivers_its_bytes_in_small_uneven_pieces()
    {
        var bytes = TestData.RandomBytes(1_500_000, seed: 3);
        var store = _folder.Store();

        var info = await store.PutAsync(new ScriptedStream(bytes, pieceSize: 7_777), "scalers");

        Assert.Equal(TestData.Sha256(bytes), info.Digest);
        Assert.Equal(bytes.Length, info.Size);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(await store.GetFileAsync(info.Digest)));
    }

    [Fact]
    public async Task Records_size_kind_and_metadata_in_an_info_that_another_store_instance_reads_back()
    {
        var bytes = TestData.RandomBytes(12_345, seed: 4);
        var metadata = TestData.Metadata(("epochs", "40"), ("dataset", "ptb-xl/v3"), ("note", "première"));

        var stored = await _folder.Store().PutAsync(new MemoryStream(bytes), "vit", metadata);
        var info = await _folder.Store().GetInfoAsync(stored.Digest);

        Assert.NotNull(info);
        Assert.Equal(TestData.Sha256(bytes), info.Digest);
        Assert.Equal(12_345, info.Size);
        Assert.Equal("vit", info.Kind);
        Assert.Equal(TestData.Sorted(metadata), TestData.Sorted(info.Metadata));
        Assert.Equal(DateTimeKind.Utc, info.CreatedAt.Kind);
        Assert.Equal(stored.CreatedAt, info.CreatedAt);
        Assert.Equal(TestData.Sorted(metadata), TestData.Sorted(stored.Metadata));
    }

    [Fact]
    public async Task Keeps_its_own_copy_of_the_metadata()
    {
        var metadata = TestData.Metadata(("epochs", "40"));
        var store = _folder.Store();

        var stored = await store.PutAsync(new MemoryStream([1, 2, 3]), "vit", metadata);
        metadata["epochs"] = "changed";
        var info = await store.GetInfoAsync(stored.Digest);

        Assert.Equal("40", stored.Metadata["epochs"]);
        Assert.Equal("40", info!.Metadata["epochs"]);
    }

    [Fact]
    public async Task Leaves_the_source_file_in_place_and_unchanged()
    {
        var bytes = TestData.RandomBytes(50_000, seed: 5);
        var source = _folder.Write("templates.bin", bytes);
        var writtenAt = File.GetLastWriteTimeUtc(source);

        await _folder.Store().PutFileAsync(source, "templates");

        Assert.Equal(bytes, await File.ReadAllBytesAsync(source));
        Assert.Equal(writtenAt, File.GetLastWriteTimeUtc(source));
    }

    [Fact]
    public async Task Lays_out_the_object_and_its_info_under_the_first_two_hex_characters_of_the_digest()
    {
        var bytes = TestData.RandomBytes(1000, seed: 6);
        var store = _folder.Store();

        var info = await store.PutAsync(new MemoryStream(bytes), "scalers", TestData.Metadata(("fold", "2")));
        var path = await store.GetFileAsync(info.Digest);

        var prefix = info.Digest[..2];
        Assert.Equal(
            new[] { $"objects/{prefix}/{info.Digest}", $"objects/{prefix}/{info.Digest}.json" },
            _folder.StoreFiles());
        Assert.Equal(_folder.ObjectPath(info.Digest), path);
        using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(path + ".json"));
        Assert.Equal(info.Digest, json.RootElement.GetProperty("digest").GetString());
        Assert.Equal(1000, json.RootElement.GetProperty("size").GetInt64());
        Assert.Equal("scalers", json.RootElement.GetProperty("kind").GetString());
        Assert.Equal("2", json.RootElement.GetProperty("metadata").GetProperty("fold").GetString());
    }

    [Fact]
    public async Task Stores_an_empty_artifact()
    {
        var store = _folder.Store();

        var info = await store.PutAsync(new MemoryStream(), "templates");

        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", info.Digest);
        Assert.Equal(0, info.Size);
        Assert.Empty(await File.ReadAllBytesAsync(await store.GetFileAsync(info.Digest)));
    }

    [Fact]
    public async Task Keeps_one_object_and_the_first_kind_and_metadata_when_identical_content_is_stored_twice()
    {
        var bytes = TestData.RandomBytes(40_000, seed: 7);
        var source = _folder.Write("copy.bin", bytes);
        var store = _folder.Store();

        var first = await store.PutAsync(new MemoryStream(bytes), "vit", TestData.Metadata(("run", "first")));
        var second = await _folder.Store().PutFileAsync(source, "templates", TestData.Metadata(("run", "second")));

        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal("vit", second.Kind);
        Assert.Equal("first", second.Metadata["run"]);
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Single(_folder.ObjectFiles());
        Assert.Equal("first", (await store.GetInfoAsync(first.Digest))!.Metadata["run"]);
    }

    [Fact]
    public async Task Keeps_one_object_per_distinct_content()
    {
        var store = _folder.Store();

        var a = await store.PutAsync(new MemoryStream(TestData.RandomBytes(1000, seed: 8)), "vit");
        var b = await store.PutAsync(new MemoryStream(TestData.RandomBytes(1000, seed: 9)), "vit");

        Assert.NotEqual(a.Digest, b.Digest);
        Assert.Equal(
            new[] { a.Digest, b.Digest }.Order(StringComparer.Ordinal),
            _folder.ObjectFiles().Select(Path.GetFileName));
        Assert.True(await store.ExistsAsync(a.Digest));
        Assert.True(await store.ExistsAsync(b.Digest));
    }

    [Fact]
    public async Task Rejects_a_blank_kind_and_a_metadata_entry_without_a_value()
    {
        var store = _folder.Store();

        await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync(new MemoryStream([1]), "  "));
        await Assert.ThrowsAsync<ArgumentException>(
            () => store.PutAsync(new MemoryStream([1]), "vit", new Dictionary<string, string> { ["x"] = null! }));

        Assert.Empty(_folder.StoreFiles());
    }
}
