namespace WaveMesh.Artifacts.Tests;

public sealed class Detecting_corrupt_artifacts : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly byte[] _original = TestData.RandomBytes(200_000, seed: 11);

    public void Dispose() => _folder.Dispose();

    private async Task<(FileArtifactStore Store, string Digest)> StoreOriginalAsync()
    {
        var store = _folder.Store();
        var info = await store.PutAsync(new MemoryStream(_original), "vit", TestData.Metadata(("run", "original")));
        return (store, info.Digest);
    }

    private byte[] FlipOneByte(string digest)
    {
        var damaged = (byte[])_original.Clone();
        damaged[123_456] ^= 0x01;
        File.WriteAllBytes(_folder.ObjectPath(digest), damaged);
        return damaged;
    }

    [Fact]
    public async Task Rejects_an_object_with_one_flipped_byte_and_moves_it_and_its_info_aside()
    {
        var (store, digest) = await StoreOriginalAsync();
        var damaged = FlipOneByte(digest);

        var error = await Assert.ThrowsAsync<ArtifactCorruptException>(() => store.GetFileAsync(digest));

        Assert.Contains(digest, error.Message);
        Assert.Contains(TestData.Sha256(damaged), error.Message);
        Assert.Equal(digest, error.Digest);
        Assert.Equal(TestData.Sha256(damaged), error.ActualDigest);
        Assert.DoesNotContain('\n', error.Message);
        Assert.NotNull(error.MovedTo);
        Assert.Equal(Path.Combine(_folder.StoreRoot, "corrupt"), Path.GetDirectoryName(error.MovedTo));
        Assert.Equal(damaged, await File.ReadAllBytesAsync(error.MovedTo));
        Assert.True(File.Exists(error.MovedTo + ".json"));
        Assert.Empty(_folder.StoreFiles("objects"));
        Assert.False(await store.ExistsAsync(digest));
        Assert.Null(await store.GetInfoAsync(digest));
    }

    [Fact]
    public async Task Rejects_a_truncated_object_and_reports_the_size_it_found()
    {
        var (store, digest) = await StoreOriginalAsync();
        File.WriteAllBytes(_folder.ObjectPath(digest), _original[..1000]);

        var error = await Assert.ThrowsAsync<ArtifactCorruptException>(() => store.GetFileAsync(digest));

        Assert.Equal(1000, error.ActualSize);
        Assert.Equal(_original.Length, error.ExpectedSize);
        Assert.Contains(digest, error.Message);
        Assert.Contains("found 1000 bytes instead of 200000", error.Message);
        Assert.Equal(_original[..1000], await File.ReadAllBytesAsync(error.MovedTo!));
        Assert.False(await store.ExistsAsync(digest));
    }

    [Fact]
    public async Task Verifies_the_object_again_on_every_read()
    {
        var (store, digest) = await StoreOriginalAsync();
        var path = await store.GetFileAsync(digest);

        FlipOneByte(digest);

        Assert.Equal(_folder.ObjectPath(digest), path);
        await Assert.ThrowsAsync<ArtifactCorruptException>(() => store.GetFileAsync(digest));
    }

    [Fact]
    public async Task Restores_a_corrupted_artifact_when_the_original_content_is_stored_again()
    {
        var (store, digest) = await StoreOriginalAsync();
        FlipOneByte(digest);
        await Assert.ThrowsAsync<ArtifactCorruptException>(() => store.GetFileAsync(digest));

        var restored = await store.PutAsync(new MemoryStream(_original), "vit", TestData.Metadata(("run", "again")));

        Assert.Equal(digest, restored.Digest);
        Assert.True(await store.ExistsAsync(digest));
        Assert.Equal(_original, await File.ReadAllBytesAsync(await store.GetFileAsync(digest)));
        // The old info went aside with the damaged bytes, so the restoring write is now the first one.
        Assert.Equal("again", (await store.GetInfoAsync(digest))!.Metadata["run"]);
    }

    [Fact]
    public async Task Replaces_a_truncated_object_when_the_original_content_is_stored_again_before_any_read()
    {
        var (store, digest) = await StoreOriginalAsync();
        File.WriteAllBytes(_folder.ObjectPath(digest), _original[..1000]);

        var again = await _folder.Store().PutAsync(new MemoryStream(_original), "vit");

        Assert.Equal(digest, again.Digest);
        Assert.Equal(_original, await File.ReadAllBytesAsync(await store.GetFileAsync(digest)));
        Assert.Single(_folder.StoreFiles("corrupt"));
    }

    [Fact]
    public async Task Throws_at_the_end_of_a_read_stream_over_a_corrupted_object()
    {
        var (store, digest) = await StoreOriginalAsync();
        var damaged = FlipOneByte(digest);
        await using var stream = await store.OpenReadAsync(digest);
        using var copy = new MemoryStream();

        var error = await Assert.ThrowsAsync<ArtifactCorruptException>(() => stream.CopyToAsync(copy));

        Assert.Equal(damaged, copy.ToArray());
        Assert.Equal(TestData.Sha256(damaged), error.ActualDigest);
        Assert.Contains(digest, error.Message);
        Assert.False(await store.ExistsAsync(digest));
        Assert.Equal(damaged, await File.ReadAllBytesAsync(error.MovedTo!));
    }

    [Fact]
    public async Task Throws_at_the_end_of_a_synchronously_read_stream_over_a_truncated_object()
    {
        var (store, digest) = await StoreOriginalAsync();
        File.WriteAllBytes(_folder.ObjectPath(digest), _original[..5000]);
        await using var stream = await store.OpenReadAsync(digest);
        var buffer = new byte[4096];
        var total = 0;

        var error = Assert.Throws<ArtifactCorruptException>(() =>
        {
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                total += read;
            }
        });

        Assert.Equal(5000, total);
        Assert.Equal(5000, error.ActualSize);
        Assert.False(await store.ExistsAsync(digest));
    }

    [Fact]
    public async Task Reads_an_intact_object_through_a_stream_without_complaint()
    {
        var (store, digest) = await StoreOriginalAsync();
        await using var stream = await store.OpenReadAsync(digest);

        var bytes = await TestData.ReadToEndAsync(stream);

        Assert.Equal(_original, bytes);
        Assert.Equal(0, await stream.ReadAsync(new byte[10]));
        Assert.True(await store.ExistsAsync(digest));
    }

    [Fact]
    public async Task Treats_an_artifact_whose_info_was_lost_as_missing_until_it_is_stored_again()
    {
        var (store, digest) = await StoreOriginalAsync();
        File.Delete(_folder.ObjectPath(digest) + ".json");

        Assert.False(await store.ExistsAsync(digest));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(digest));

        var again = await store.PutAsync(new MemoryStream(_original), "templates");

        Assert.Equal("templates", again.Kind);
        Assert.True(await store.ExistsAsync(digest));
        Assert.Equal(_original, await File.ReadAllBytesAsync(await store.GetFileAsync(digest)));
    }

    [Fact]
    public async Task Replaces_a_damaged_info_file_when_the_content_is_stored_again()
    {
        var (store, digest) = await StoreOriginalAsync();
        File.WriteAllText(_folder.ObjectPath(digest) + ".json", "{\"digest\": \"trunc");

        Assert.Null(await store.GetInfoAsync(digest));

        var again = await store.PutAsync(new MemoryStream(_original), "scalers");

        Assert.Equal("scalers", again.Kind);
        Assert.Equal("scalers", (await store.GetInfoAsync(digest))!.Kind);
    }
}
