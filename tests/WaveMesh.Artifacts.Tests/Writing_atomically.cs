namespace WaveMesh.Artifacts.Tests;

public sealed class Writing_atomically : IDisposable
{
    private const int OneMegabyte = 1024 * 1024;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private async Task<(string Digest, byte[] FileBytes)> StoreUnrelatedAsync(FileArtifactStore store)
    {
        var info = await store.PutAsync(new MemoryStream(TestData.RandomBytes(70_000, seed: 21)), "scalers");
        return (info.Digest, await File.ReadAllBytesAsync(_folder.ObjectPath(info.Digest)));
    }

    [Fact]
    public async Task Leaves_no_object_and_no_temp_file_when_the_source_fails_after_one_megabyte()
    {
        var store = _folder.Store();
        var (unrelated, unrelatedBytes) = await StoreUnrelatedAsync(store);
        var filesBefore = _folder.StoreFiles();
        long[]? tempSizesAtFailure = null;
        var source = new ScriptedStream(
            TestData.RandomBytes(3 * OneMegabyte, seed: 22),
            pieceSize: 64 * 1024,
            stopAfter: OneMegabyte,
            onStop: () =>
            {
                tempSizesAtFailure = Directory.GetFiles(Path.Combine(_folder.StoreRoot, "tmp")).Select(f => new FileInfo(f).Length).ToArray();
                throw new IOException("source broke");
            });

        var error = await Assert.ThrowsAsync<IOException>(() => store.PutAsync(source, "vit"));

        Assert.Equal("source broke", error.Message);
        // While the source was failing, the megabyte already read sat in one temporary file, never under a final name.
        Assert.Equal(new long[] { OneMegabyte }, tempSizesAtFailure);
        Assert.Equal(filesBefore, _folder.StoreFiles());
        Assert.Equal(unrelatedBytes, await File.ReadAllBytesAsync(_folder.ObjectPath(unrelated)));
        Assert.Equal(_folder.ObjectPath(unrelated), await store.GetFileAsync(unrelated));
    }

    [Fact]
    public async Task Leaves_no_object_and_no_temp_file_when_the_put_is_cancelled_half_way()
    {
        var store = _folder.Store();
        var (unrelated, unrelatedBytes) = await StoreUnrelatedAsync(store);
        var filesBefore = _folder.StoreFiles();
        using var cancellation = new CancellationTokenSource();
        var bytes = TestData.RandomBytes(3 * OneMegabyte, seed: 23);
        var source = new ScriptedStream(bytes, pieceSize: 64 * 1024, stopAfter: OneMegabyte, onStop: cancellation.Cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.PutAsync(source, "vit", cancellation: cancellation.Token));

        Assert.True(cancellation.IsCancellationRequested);
        Assert.Equal(filesBefore, _folder.StoreFiles());
        Assert.False(await store.ExistsAsync(TestData.Sha256(bytes)));
        Assert.Equal(unrelatedBytes, await File.ReadAllBytesAsync(_folder.ObjectPath(unrelated)));
    }

    [Fact]
    public async Task Writes_nothing_when_cancelled_before_it_starts()
    {
        var store = _folder.Store();
        await store.SetRecordAsync("job", "{\"state\":\"old\"}");
        var filesBefore = _folder.StoreFiles();
        var source = _folder.Write("model.bin", TestData.RandomBytes(1000, seed: 24));
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.PutFileAsync(source, "vit", cancellation: cancellation.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.PutAsync(new MemoryStream([1, 2]), "vit", cancellation: cancellation.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.SetRecordAsync("job", "{\"state\":\"new\"}", cancellation.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.TryAddRecordAsync("other", "1", cancellation.Token));

        Assert.Equal(filesBefore, _folder.StoreFiles());
        Assert.Equal("{\"state\":\"old\"}", await store.GetRecordAsync("job"));
    }

    [Fact]
    public async Task Leaves_nothing_behind_when_the_source_file_does_not_exist()
    {
        var store = _folder.Store();

        await Assert.ThrowsAsync<FileNotFoundException>(() => store.PutFileAsync(Path.Combine(_folder.FolderPath, "missing.bin"), "vit"));

        Assert.Empty(_folder.StoreFiles());
    }

    [Fact]
    public async Task Leaves_the_temp_folder_empty_after_successful_writes()
    {
        var store = _folder.Store();

        var info = await store.PutAsync(new MemoryStream(TestData.RandomBytes(2 * OneMegabyte, seed: 25)), "vit");
        await store.PutAsync(new MemoryStream(TestData.RandomBytes(2 * OneMegabyte, seed: 25)), "vit");
        await store.SetRecordAsync("a", "1");
        await store.TryAddRecordAsync("a", "2");
        await store.DeleteRecordAsync("a");

        Assert.Empty(_folder.StoreFiles("tmp"));
        Assert.Equal(
            new[] { $"objects/{info.Digest[..2]}/{info.Digest}", $"objects/{info.Digest[..2]}/{info.Digest}.json" },
            _folder.StoreFiles());
    }
}
