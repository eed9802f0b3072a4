using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using WaveMesh.Safetensors;

namespace WaveMesh.Testing;

/// <summary>
/// The model registry as a user meets it over HTTP, whatever runs the control plane (the services on the test
/// sidecar, on RabbitMQ, or <c>wavemesh serve</c>): after a finished run of <paramref name="sizes"/>, each of them has a
/// promoted model that downloads as valid safetensors with the listed digest; bad requests are refused with a
/// one-line reason and change nothing; a size asked for on demand is made and served.
/// </summary>
public static class RegistryScenario
{
    /// <param name="api">The control API with the bearer token set.</param>
    /// <param name="waitForRun">Waits until a run has ended and returns its status.</param>
    public static async Task RunAsync(HttpClient api, string teacher, IReadOnlyCollection<string> sizes, string onDemandSize,
        Func<Guid, Task<string>> waitForRun, string scratchFolder)
    {
        var listed = await ModelsAsync(api, teacher);
        Assert.Subset(listed.Select(m => m.GetProperty("size").GetString()!).ToHashSet(), sizes.ToHashSet());
        foreach (var m in listed) await DownloadAsync(api, teacher, m, scratchFolder);
        foreach (var format in new[] { "tar", "zip" }) await DownloadHubFolderAsync(api, teacher, listed[0], format);

        // Refused with a one-line reason (a JSON problem), and the registry unchanged.
        await AssertProblemAsync(await api.GetAsync($"/api/models/{teacher}/9x16x1"), HttpStatusCode.NotFound, "no model of size 9x16x1");
        await AssertProblemAsync(await api.GetAsync($"/api/models/{teacher}/not-a-size"), HttpStatusCode.BadRequest, "is not a size");
        await AssertProblemAsync(await api.PostAsync($"/api/models/{teacher}/1x24x1", null), HttpStatusCode.BadRequest, "not a multiple of the template size");
        await AssertProblemAsync(await api.PostAsync($"/api/models/{teacher}/1x32x3", null), HttpStatusCode.BadRequest, "heads (3) must divide the width (32)");
        await AssertProblemAsync(await api.PostAsync("/api/models/no-such-teacher/1x32x2", null), HttpStatusCode.NotFound, "is not registered");
        await AssertProblemAsync(await api.GetAsync($"/api/models/{teacher}/{listed[0].GetProperty("size").GetString()}?format=rar"),
            HttpStatusCode.BadRequest, "format 'rar' is not one of safetensors (the default), tar, zip");
        Assert.Equal(listed.Select(m => m.ToString()), (await ModelsAsync(api, teacher)).Select(m => m.ToString()));

        // On demand: 202 with a Location to poll; then the size is served, made by WAVE.
        using var accepted = await api.PostAsync($"/api/models/{teacher}/{onDemandSize}", null);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location?.ToString() ?? throw new InvalidOperationException("202 without a Location");
        Assert.StartsWith("/api/runs/", location);
        Assert.Equal("succeeded", await waitForRun(Guid.Parse(location["/api/runs/".Length..])));
        var made = Assert.Single(await ModelsAsync(api, teacher), m => m.GetProperty("size").GetString() == onDemandSize);
        Assert.Equal("wave", made.GetProperty("method").GetString());
        await DownloadAsync(api, teacher, made, scratchFolder);
    }

    static async Task<List<JsonElement>> ModelsAsync(HttpClient api, string teacher) =>
        [.. JsonDocument.Parse(await api.GetStringAsync("/api/models")).RootElement.Clone().EnumerateArray()
            .Where(m => m.GetProperty("teacher").GetString() == teacher)];

    static async Task DownloadAsync(HttpClient api, string teacher, JsonElement model, string scratchFolder)
    {
        var size = model.GetProperty("size").GetString()!;
        Assert.InRange(model.GetProperty("accuracy").GetDouble(), 0, 1);
        Assert.Equal(64, model.GetProperty("teacher_digest").GetString()!.Length);
        Assert.True(model.TryGetProperty("promoted_at", out _), model.ToString());
        using var response = await api.GetAsync($"/api/models/{teacher}/{size}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(model.GetProperty("digest").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var path = Path.Combine(scratchFolder, $"{teacher}-{size}-{Guid.NewGuid():N}.safetensors");
        Directory.CreateDirectory(scratchFolder);
        await File.WriteAllBytesAsync(path, bytes);
        try
        {
            using var file = SafetensorsFile.Open(path);
            Assert.Contains(file.Tensors, t => t.Name == "head.weight");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// <c>?format=tar|zip</c>: a timm hub folder, NAME/config.json and NAME/model.safetensors, whose weights are the
    /// promoted file byte for byte and whose config has the size's shape and the normalisation training recorded.
    /// </summary>
    static async Task DownloadHubFolderAsync(HttpClient api, string teacher, JsonElement model, string format)
    {
        var size = model.GetProperty("size").GetString()!;
        using var response = await api.GetAsync($"/api/models/{teacher}/{size}?format={format}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(format == "tar" ? "application/x-tar" : "application/zip", response.Content.Headers.ContentType?.MediaType);
        var files = new Dictionary<string, byte[]>();
        await using var body = new MemoryStream(await response.Content.ReadAsByteArrayAsync());
        if (format == "tar")
        {
            using var tar = new TarReader(body);
            while (tar.GetNextEntry() is { DataStream: { } data } entry)
            {
                using var copy = new MemoryStream();
                data.CopyTo(copy);
                files[entry.Name] = copy.ToArray();
            }
        }
        else
        {
            using var zip = new ZipArchive(body);
            foreach (var entry in zip.Entries)
            {
                using var copy = new MemoryStream();
                using (var data = entry.Open()) data.CopyTo(copy);
                files[entry.FullName] = copy.ToArray();
            }
        }
        var folder = $"{teacher}-{size}-{model.GetProperty("method").GetString()}";
        Assert.Equal([$"{folder}/config.json", $"{folder}/model.safetensors"], files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(model.GetProperty("digest").GetString(), Convert.ToHexStringLower(SHA256.HashData(files[$"{folder}/model.safetensors"])));
        var config = JsonDocument.Parse(files[$"{folder}/config.json"]).RootElement;
        Assert.Equal("vit_tiny_patch16_224", config.GetProperty("architecture").GetString());
        var parts = size.Split('x').Select(int.Parse).ToArray();
        var args = config.GetProperty("model_args");
        Assert.Equal((parts[0], parts[1], parts[2]), (args.GetProperty("depth").GetInt32(), args.GetProperty("embed_dim").GetInt32(), args.GetProperty("num_heads").GetInt32()));
        Assert.Equal(1, config.GetProperty("pretrained_cfg").GetProperty("mean").GetArrayLength());
        Assert.InRange(config.GetProperty("pretrained_cfg").GetProperty("std")[0].GetDouble(), 0.2, 0.5);   // Fashion-MNIST's, as training recorded it
    }

    static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        using (response)
        {
            Assert.Equal(status, response.StatusCode);
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            var text = problem.GetProperty("detail").GetString()!;
            Assert.Contains(detail, text);
            Assert.DoesNotContain('\n', text);
        }
    }
}
