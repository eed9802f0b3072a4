using System.Security.Cryptography;

namespace WaveMesh.Artifacts.Tests;

public sealed class Naming_artifacts : IDisposable
{
    private const string Valid = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string> InvalidDigests => new()
    {
        "../etc/passwd",
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a088",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g",
        "../../../../../../../../../../../../../../../../../../../etc/pass",
        "",
        " 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
    };

    [Theory]
    [MemberData(nameof(InvalidDigests))]
    public void Accepts_only_64_lower_case_hex_characters(string digest)
    {
        Assert.False(ArtifactDigest.IsValid(digest));
        Assert.True(ArtifactDigest.IsValid(Valid));
    }

    [Theory]
    [MemberData(nameof(InvalidDigests))]
    public async Task Rejects_an_invalid_digest_on_every_read(string digest)
    {
        var store = _folder.Store();

        await Assert.ThrowsAsync<ArgumentException>(() => store.GetFileAsync(digest));
        await Assert.ThrowsAsync<ArgumentException>(() => store.OpenReadAsync(digest));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetInfoAsync(digest));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.ExistsAsync(digest));
        Assert.Equal("digest", error.ParamName);
    }

    [Fact]
    public async Task Reports_a_missing_artifact_by_its_digest()
    {
        var store = _folder.Store();
        await store.PutAsync(new MemoryStream([1, 2, 3]), "vit");

        var onGet = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(Valid));
        var onOpen = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.OpenReadAsync(Valid));

        Assert.Equal(Valid, onGet.Digest);
        Assert.Contains(Valid, onGet.Message);
        Assert.Contains(Valid, onOpen.Message);
        Assert.Null(await store.GetInfoAsync(Valid));
        Assert.False(await store.ExistsAsync(Valid));
    }

    [Fact]
    public void Computes_the_same_digest_as_the_framework_sha256_for_streams_and_files()
    {
        var bytes = TestData.RandomBytes((1024 * 1024) + 3, seed: 41);
        var path = _folder.Write("data.bin", bytes);
        var expected = Convert.ToHexStringLower(SHA256.HashData(bytes));

        Assert.Equal(expected, ArtifactDigest.Of(new MemoryStream(bytes)));
        Assert.Equal(expected, ArtifactDigest.OfFile(path));
        Assert.Equal(Valid, ArtifactDigest.Of(new MemoryStream("test"u8.ToArray())));
    }
}
