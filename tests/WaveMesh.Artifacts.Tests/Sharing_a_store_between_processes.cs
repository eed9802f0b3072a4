namespace WaveMesh.Artifacts.Tests;

/// <summary>Each task opens its own <see cref="FileArtifactStore"/> on the same folder, as separate processes would.</summary>
public sealed class Sharing_a_store_between_processes : IDisposable
{
    private const int Writers = 8;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Starts all bodies on the thread pool and releases them together.</summary>
    private static async Task<T[]> RunTogetherAsync<T>(int count, Func<int, Task<T>> body)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await start.Task;
            return await body(i);
        })).ToArray();
        start.SetResult();
        return await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task Eight_writers_of_shared_and_distinct_content_leave_verified_objects_and_no_temp_files()
    {
        var shared = TestData.RandomBytes(5 * 1024 * 1024, seed: 31);
        var distinct = Enumerable.Range(0, Writers).Select(i => TestData.RandomBytes(64 * 1024 + i, seed: 100 + i)).ToArray();

        var results = await RunTogetherAsync(Writers, async i =>
        {
            var store = _folder.Store();
            var sharedInfo = await store.PutAsync(new MemoryStream(shared), "vit", TestData.Metadata(("writer", i.ToString())));
            var distinctInfo = await store.PutAsync(new MemoryStream(distinct[i]), "scalers");
            return (Shared: sharedInfo, Distinct: distinctInfo);
        });

        var reader = _folder.Store();
        var stored = await reader.GetInfoAsync(TestData.Sha256(shared));
        Assert.NotNull(stored);
        // Whoever won, every writer was told the same, stored info.
        Assert.All(results, r => Assert.Equal(TestData.Sha256(shared), r.Shared.Digest));
        Assert.All(results, r => Assert.Equal(TestData.Sorted(stored.Metadata), TestData.Sorted(r.Shared.Metadata)));
        Assert.All(results, r => Assert.Equal(stored.CreatedAt, r.Shared.CreatedAt));
        Assert.Equal(shared, await File.ReadAllBytesAsync(await reader.GetFileAsync(stored.Digest)));
        for (var i = 0; i < Writers; i++)
        {
            Assert.Equal(TestData.Sha256(distinct[i]), results[i].Distinct.Digest);
            Assert.Equal(distinct[i], await File.ReadAllBytesAsync(await reader.GetFileAsync(results[i].Distinct.Digest)));
        }

        Assert.Equal(Writers + 1, _folder.ObjectFiles().Length);
        Assert.Equal(2 * (Writers + 1), _folder.StoreFiles("objects").Length);
        Assert.Empty(_folder.StoreFiles("tmp"));
        Assert.Empty(_folder.StoreFiles("corrupt"));
    }

    [Fact]
    public async Task Lets_exactly_one_of_sixteen_concurrent_adds_of_a_key_win()
    {
        var added = await RunTogetherAsync(16, i => _folder.Store().TryAddRecordAsync("jobs/ecg:42", $"{{\"writer\":{i}}}"));

        var winner = Assert.Single(Enumerable.Range(0, 16), i => added[i]);
        Assert.Equal($"{{\"writer\":{winner}}}", await _folder.Store().GetRecordAsync("jobs/ecg:42"));
        Assert.Single(_folder.StoreFiles("records"));
        Assert.Empty(_folder.StoreFiles("tmp"));
    }

    [Fact]
    public async Task Keeps_one_whole_value_when_sixteen_sets_of_a_key_race()
    {
        var values = Enumerable.Range(0, 16).Select(i => $"{{\"writer\":{i},\"padding\":\"{new string('x', 1000 * i)}\"}}").ToArray();

        await RunTogetherAsync(16, async i =>
        {
            await _folder.Store().SetRecordAsync("latest", values[i]);
            return i;
        });

        Assert.Contains(await _folder.Store().GetRecordAsync("latest"), values);
        Assert.Single(_folder.StoreFiles("records"));
        Assert.Empty(_folder.StoreFiles("tmp"));
    }

    [Fact]
    public async Task Reports_exactly_one_of_eight_concurrent_deletes_of_a_record_as_the_one_that_removed_it()
    {
        await _folder.Store().SetRecordAsync("job", "true");

        var deleted = await RunTogetherAsync(Writers, _ => _folder.Store().DeleteRecordAsync("job"));

        Assert.Single(deleted, d => d);
        Assert.Null(await _folder.Store().GetRecordAsync("job"));
        Assert.Empty(_folder.StoreFiles("tmp"));
    }

    [Fact]
    public void Lets_exactly_one_of_four_simultaneous_no_replace_renames_onto_a_name_win_in_every_round()
    {
        // File.Move(overwrite: false) lets two racing renames both succeed on Linux (check, then rename); this drives the
        // primitive the store uses for first-write-wins hard enough that such a race would show up in some round.
        const int Rounds = 100;
        const int Racers = 4;
        var folder = Path.Combine(_folder.FolderPath, "race");
        Directory.CreateDirectory(folder);
        var roundsWithOneWinner = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var target = Path.Combine(folder, $"claimed-{round}");
            var sources = Enumerable.Range(0, Racers).Select(i => _folder.Write($"race/source-{round}-{i}", [(byte)i])).ToArray();
            var won = new bool[Racers];
            using var barrier = new Barrier(Racers);
            var threads = Enumerable.Range(0, Racers).Select(i => new Thread(() =>
            {
                barrier.SignalAndWait();
                won[i] = NoReplaceRename.TryMove(sources[i], target);
            })).ToArray();
            foreach (var thread in threads)
            {
                thread.Start();
            }

            foreach (var thread in threads)
            {
                thread.Join();
            }

            var winner = Array.IndexOf(won, true);
            if (won.Count(w => w) == 1 && File.ReadAllBytes(target)[0] == winner && !File.Exists(sources[winner]))
            {
                roundsWithOneWinner++;
            }
        }

        Assert.Equal(Rounds, roundsWithOneWinner);
    }
}
