namespace WaveMesh.Artifacts.Tests;

public sealed class Keeping_records : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Adds_a_record_only_when_the_key_is_new()
    {
        var store = _folder.Store();

        var first = await store.TryAddRecordAsync("result/job-1", "{\"accuracy\":0.91}");
        var second = await store.TryAddRecordAsync("result/job-1", "{\"accuracy\":0.12}");

        Assert.True(first);
        Assert.False(second);
        Assert.Equal("{\"accuracy\":0.91}", await store.GetRecordAsync("result/job-1"));
    }

    [Fact]
    public async Task Replaces_a_record_with_set()
    {
        var store = _folder.Store();
        await store.TryAddRecordAsync("name/best", "\"abc\"");

        await store.SetRecordAsync("name/best", "\"def\"");

        Assert.Equal("\"def\"", await store.GetRecordAsync("name/best"));
        Assert.Single(_folder.StoreFiles("records"));
    }

    [Fact]
    public async Task Returns_null_for_a_key_that_was_never_stored()
    {
        var store = _folder.Store();
        await store.SetRecordAsync("present", "1");

        Assert.Null(await store.GetRecordAsync("absent"));
    }

    [Fact]
    public async Task Deletes_a_record_and_reports_whether_there_was_one()
    {
        var store = _folder.Store();
        await store.SetRecordAsync("job", "{}");

        var first = await store.DeleteRecordAsync("job");
        var second = await store.DeleteRecordAsync("job");

        Assert.True(first);
        Assert.False(second);
        Assert.Null(await store.GetRecordAsync("job"));
        Assert.True(await store.TryAddRecordAsync("job", "[]"));
        Assert.Equal("[]", await store.GetRecordAsync("job"));
    }

    [Fact]
    public async Task Hands_back_the_json_text_exactly_as_it_was_stored()
    {
        const string json = "{\n  \"name\" : \"Zoë \\u00e9 \\\"quoted\\\"\",\t\"list\": [1, 2.50, null] }  ";
        var store = _folder.Store();

        await store.SetRecordAsync("exact", json);

        Assert.Equal(json, await _folder.Store().GetRecordAsync("exact"));
    }

    [Fact]
    public async Task Rejects_a_value_that_is_not_json()
    {
        var store = _folder.Store();

        await Assert.ThrowsAsync<ArgumentException>(() => store.SetRecordAsync("bad", "{not json"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.TryAddRecordAsync("bad", "plain text"));

        Assert.Null(await store.GetRecordAsync("bad"));
        Assert.Empty(_folder.StoreFiles());
    }

    [Fact]
    public async Task Keeps_awkward_keys_apart_and_inside_the_records_folder()
    {
        string[] keys =
        [
            "a/b", "a:b", "a\\b", "../escape", "../../../../../../tmp/escape", "..", ".", "/etc/passwd",
            "C:\\Windows\\system.ini", "ключ", "名前", "emoji 😀", "tab\tand\nnewline", "nul\0byte", new string('k', 5000),
        ];
        var store = _folder.Store();

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.True(await store.TryAddRecordAsync(keys[i], i.ToString()));
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i.ToString(), await store.GetRecordAsync(keys[i]));
        }

        Assert.Equal(new[] { "store" }, Directory.GetFileSystemEntries(_folder.FolderPath).Select(Path.GetFileName));
        Assert.Equal(keys.Length, _folder.StoreFiles().Length);
        Assert.All(_folder.StoreFiles(), path => Assert.Matches("^records/[0-9a-f]{64}\\.json$", path));
    }

    [Fact]
    public async Task Rejects_an_empty_key_and_a_key_with_a_lone_surrogate()
    {
        var store = _folder.Store();

        await Assert.ThrowsAsync<ArgumentException>(() => store.SetRecordAsync("", "1"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SetRecordAsync("half \ud800 pair", "1"));

        Assert.Empty(_folder.StoreFiles());
    }
}
