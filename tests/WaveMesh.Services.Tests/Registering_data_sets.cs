using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using WaveMesh.Artifacts;
using WaveMesh.Contracts;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>
/// Data sets travel by content: <c>PUT /api/datasets/{name}</c> stores the checked archive, jobs address it by digest and
/// carry no local path, and a data set nobody can provide is refused before any run. Control only; no training.
/// </summary>
public sealed class Registering_data_sets(ITestOutputHelper output) : IAsyncLifetime
{
    Mesh mesh = null!;
    HttpClient anonymous = null!;

    const string Pipeline = "templates: { size: 16 }\nauxiliary: 2x32x2\ntargets: [1x16x1]\n";

    public async Task InitializeAsync()
    {
        mesh = await Mesh.StartAsync();
        var control = await mesh.StartControlAsync();
        anonymous = new HttpClient { BaseAddress = control.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        foreach (var line in mesh.Logs.Lines.TakeLast(30)) output.WriteLine(line);
        anonymous.Dispose();
        await mesh.DisposeAsync();
    }

    static ByteArrayContent Tar(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        return content;
    }

    /// <summary>The digest the canonical archive of the tiny data set has, packed here independently of the service.</summary>
    static string ExpectedDigest()
    {
        using var packed = new MemoryStream();
        DatasetArchive.PackArchive(DatasetArchive.FashionMnist, new MemoryStream(TinyDatasets.FashionMnistTar()), packed);
        return Convert.ToHexStringLower(SHA256.HashData(packed.ToArray()));
    }

    static async Task<(HttpStatusCode Status, JsonElement Body)> Answer(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    IReadOnlyList<string> Artifacts() =>
        mesh.Sidecar.Snapshot(Mesh.Store).Keys.Where(k => k.StartsWith("artifact/", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task An_uploaded_tar_is_registered_by_its_content_once()
    {
        var (status, body) = await Answer(await mesh.ControlApi.PutAsync("/api/datasets/fashion-mnist", Tar(TinyDatasets.FashionMnistTar())));
        var (again, same) = await Answer(await mesh.ControlApi.PutAsync("/api/datasets/fashion-mnist", Tar(TinyDatasets.FashionMnistTar(prefix: "other/"))));
        var (listed, list) = await Answer(await mesh.ControlApi.GetAsync("/api/datasets"));

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(ExpectedDigest(), body.GetProperty("digest").GetString());
        Assert.Equal(30, body.GetProperty("train").GetInt32());
        Assert.Equal(10, body.GetProperty("test").GetInt32());
        Assert.Equal("upload", body.GetProperty("source").GetString());
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(ExpectedDigest(), same.GetProperty("digest").GetString());
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Equal("fashion-mnist", Assert.Single(list.EnumerateArray()).GetProperty("name").GetString());
        Assert.Contains($"artifact/{ExpectedDigest()}", Artifacts());
    }

    [Fact]
    public async Task Bad_uploads_are_refused_with_a_one_line_reason_and_change_nothing()
    {
        var cases = new (string Path, HttpContent Content, HttpStatusCode Status, string Reason)[]
        {
            ("/api/datasets/mnist", Tar(TinyDatasets.FashionMnistTar()), HttpStatusCode.BadRequest, "unknown data set 'mnist': WaveMesh reads fashion-mnist and cifar-10"),
            ("/api/datasets/fashion-mnist", Tar("not a tar"u8.ToArray()), HttpStatusCode.BadRequest, "fashion-mnist: the "),
            ("/api/datasets/fashion-mnist", Tar(TinyDatasets.FashionMnistTar(train: 0)), HttpStatusCode.BadRequest, "train-images-idx3-ubyte: dimension 0 is 0"),
            ("/api/datasets/fashion-mnist", Tar([]), HttpStatusCode.BadRequest, "the upload is empty"),
        };
        foreach (var (path, content, status, reason) in cases)
        {
            using var response = await mesh.ControlApi.PutAsync(path, content);
            var (got, body) = await Answer(response);
            Assert.True(got == status, $"{path}: expected {(int)status}, got {(int)got}: {body}");
            var detail = body.GetProperty("detail").GetString()!;
            Assert.StartsWith(reason, detail);
            Assert.DoesNotContain('\n', detail);
        }
        using var unauthorised = await anonymous.PutAsync("/api/datasets/fashion-mnist", Tar(TinyDatasets.FashionMnistTar()));

        Assert.Equal(HttpStatusCode.Unauthorized, unauthorised.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await mesh.ControlApi.GetAsync("/api/datasets/fashion-mnist")).StatusCode);
        Assert.Empty(Artifacts());
    }

    [Fact]
    public async Task Jobs_address_the_registered_data_set_by_digest_and_carry_no_path()
    {
        using (var put = await mesh.ControlApi.PutAsync("/api/datasets/fashion-mnist", Tar(TinyDatasets.FashionMnistTar())))
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        await mesh.UploadTeacherAsync("t", Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 1));

        var run = await mesh.PutPipelineAsync("fm", "t", Pipeline);

        Assert.NotNull(run);
        var distill = await mesh.WaitForAsync(() => mesh.Published<DistillTemplates>().FirstOrDefault(), TimeSpan.FromSeconds(20), "the distil job");
        var evaluate = await mesh.WaitForAsync(() => mesh.Published<EvaluateModel>().FirstOrDefault(), TimeSpan.FromSeconds(20), "the teacher's evaluation");
        Assert.All(new[] { distill.Data, evaluate.Data }, data =>
        {
            Assert.Equal(ExpectedDigest(), data.Digest);
            Assert.Null(data.Path);
        });
        var published = mesh.Sidecar.Published.First(m => m.Topic == Topics.Of(typeof(DistillTemplates)));
        Assert.DoesNotContain("\"path\":\"", System.Text.Encoding.UTF8.GetString(published.Data));
    }

    [Fact]
    public async Task A_pipeline_on_a_data_set_nobody_can_provide_is_refused_before_anything_runs()
    {
        using var response = await mesh.ControlApi.PutAsync("/api/pipelines/c10", JsonContent(new
        {
            teacher = "t",
            config = "data: { dataset: cifar-10 }\nfamily: { patch_size: 8 }\n" + Pipeline,
        }));
        var (status, body) = await Answer(response);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("data set cifar-10 is not registered and the control plane has no copy of it: upload it with PUT /api/datasets/cifar-10 (a tar of its files)",
            body.GetProperty("detail").GetString());
        Assert.Empty((await Answer(await mesh.ControlApi.GetAsync("/api/pipelines"))).Body.EnumerateArray());
        Assert.Empty(mesh.Sidecar.Published);
    }

    static StringContent JsonContent(object value) =>
        new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");
}
