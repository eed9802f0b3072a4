using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using WaveMesh.Contracts;
using WaveMesh.ControlPlane;
using WaveMesh.Models;
using WaveMesh.Pipeline;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>
/// A teacher that does not fit a pipeline's data set, in either order of registration, and a target the templates cannot
/// make, are refused with 400 naming every problem before anything is stored or published. Control only; no training.
/// </summary>
public sealed class Checking_compatibility(ITestOutputHelper output) : IAsyncLifetime
{
    Mesh mesh = null!;

    public async Task InitializeAsync()
    {
        mesh = await Mesh.StartAsync();
        await mesh.StartControlAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var line in mesh.Logs.Lines.TakeLast(30)) output.WriteLine(line);
        await mesh.DisposeAsync();
    }

    /// <summary>Fashion-MNIST (28x28x1, 10 classes), patch size 7: what <see cref="Checkpoints.TeacherSpec"/> takes.</summary>
    const string Pipeline = "templates: { size: 16 }\nauxiliary: 2x32x2\ntargets: [1x16x1]\n";

    static readonly ModelSize TeacherSize = new(2, 32, 2);

    static PipelineDefinition Definition(string yaml) => RunConfig.Parse(yaml, null).Pipeline;

    // ---- the pure check ----

    [Fact]
    public void A_teacher_made_for_the_data_set_has_no_problem()
    {
        Assert.Empty(Compatibility.Problems(new ModelFamily(), TeacherSize, Definition(Pipeline)));
    }

    [Fact]
    public void Every_mismatch_with_the_data_set_and_the_family_is_named()
    {
        var cifar100Teacher = new ModelFamily(ImageSize: 32, Channels: 3, PatchSize: 8, Classes: 100);

        var problems = Compatibility.Problems(cifar100Teacher, TeacherSize, Definition(Pipeline));

        Assert.Equal([
            "the teacher takes 32x32x3 images, the data set (fashion-mnist) has 28x28x1",
            "the teacher has 100 classes, the data set 10",
            "the teacher's patch size is 8, the pipeline's (family.patch_size) 7",
        ], problems);
        Assert.Equal("pipeline tiny cannot use teacher fmnist v2: the teacher takes 32x32x3 images, the data set (fashion-mnist) has 28x28x1; " +
                     "the teacher has 100 classes, the data set 10; the teacher's patch size is 8, the pipeline's (family.patch_size) 7",
            Compatibility.Describe("tiny", "fmnist v2", problems));
    }

    [Fact]
    public void A_target_bigger_than_the_teacher_is_not_a_problem()
    {
        var definition = Definition("templates: { size: 16 }\nauxiliary: 2x32x2\ntargets: [8x256x8, 1x16x1]\n");

        Assert.Empty(Compatibility.Problems(new ModelFamily(), new ModelSize(1, 16, 1), definition));
    }

    [Fact]
    public void Sizes_built_in_code_are_held_to_the_template_rules()
    {
        var definition = Definition(Pipeline) with { Auxiliary = new ModelSize(2, 40, 2), Targets = [new(1, 40, 2), new(1, 32, 3)] };

        Assert.Equal([
            "auxiliary 2x40x2: width 40 is not a multiple of the template size 16",
            "target 1x40x2: width 40 is not a multiple of the template size 16",
            "target 1x32x3: heads (3) must divide width (32)",
        ], Compatibility.Problems(new ModelFamily(), TeacherSize, definition));
    }

    // ---- through the control API ----

    static ByteArrayContent Octets(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    Task<HttpResponseMessage> UploadAsync(string name, VitSpec spec) =>
        mesh.ControlApi.PostAsync($"/api/teachers/{name}", Octets(Checkpoints.Untrained(spec, seed: 1)));

    /// <summary>The message of a 400 answer (the problem's detail).</summary>
    static async Task<string> RefusalAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!;
    }

    IReadOnlyList<string> Artifacts() =>
        mesh.Sidecar.Snapshot(Mesh.Store).Keys.Where(k => k.StartsWith("artifact/", StringComparison.Ordinal)).ToList();

    string Uploads => Path.Combine(mesh.Root, "control", "uploads");

    [Fact]
    public async Task A_teacher_whose_classes_differ_from_a_following_pipeline_s_data_is_refused_and_not_stored()
    {
        Assert.Null(await mesh.PutPipelineAsync("fm", "t", Pipeline));   // no teacher yet: nothing runs

        using var refused = await UploadAsync("t", Checkpoints.TeacherSpec with { Classes = 5 });

        Assert.Contains("pipeline fm cannot use teacher t v1: the teacher has 5 classes, the data set 10", await RefusalAsync(refused));
        Assert.Equal(HttpStatusCode.NotFound, (await mesh.ControlApi.GetAsync("/api/teachers/t")).StatusCode);
        Assert.Empty(Artifacts());
        Assert.Empty(Directory.Exists(Uploads) ? Directory.GetFiles(Uploads) : []);
        Assert.Empty(mesh.Sidecar.Published);
    }

    [Fact]
    public async Task Registering_a_stored_artifact_that_a_following_pipeline_cannot_use_is_refused_the_same_way()
    {
        var wrong = Checkpoints.Untrained(Checkpoints.TeacherSpec with { Classes = 5 }, seed: 2);
        var digest = Convert.ToHexStringLower(SHA256.HashData(wrong));
        using (var stored = await mesh.ControlApi.PostAsync("/api/teachers/elsewhere", Octets(wrong)))   // no pipeline follows it
            Assert.Equal(HttpStatusCode.Created, stored.StatusCode);
        Assert.Null(await mesh.PutPipelineAsync("fm", "t", Pipeline));
        var published = mesh.Sidecar.Published.Count;

        using var refused = await mesh.ControlApi.PostAsJsonAsync("/api/teachers/t/versions", new { digest });

        Assert.Contains("pipeline fm cannot use teacher t v1: the teacher has 5 classes, the data set 10", await RefusalAsync(refused));
        Assert.Equal(HttpStatusCode.NotFound, (await mesh.ControlApi.GetAsync("/api/teachers/t")).StatusCode);
        Assert.Equal(published, mesh.Sidecar.Published.Count);
    }

    [Fact]
    public async Task A_pipeline_whose_data_the_current_teacher_cannot_take_is_refused_with_every_problem()
    {
        using (var created = await UploadAsync("u", Checkpoints.TeacherSpec with { Classes = 100 }))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var published = mesh.Sidecar.Published.Count;

        using var refused = await mesh.ControlApi.PutAsJsonAsync("/api/pipelines/cifar",
            new { teacher = "u", config = "data: { dataset: cifar-10, path: /nowhere }\nfamily: { patch_size: 8 }\n" + Pipeline });

        Assert.Contains("pipeline cifar cannot use teacher u v1: the teacher takes 28x28x1 images, the data set (cifar-10) has 32x32x3; " +
                        "the teacher has 100 classes, the data set 10; the teacher's patch size is 7, the pipeline's (family.patch_size) 8",
            await RefusalAsync(refused));
        Assert.Equal("[]", await mesh.ControlApi.GetStringAsync("/api/pipelines"));
        Assert.Equal(published, mesh.Sidecar.Published.Count);
    }

    [Fact]
    public async Task A_target_the_templates_cannot_make_is_refused_before_anything_runs()
    {
        using (var created = await UploadAsync("v", Checkpoints.TeacherSpec))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var published = mesh.Sidecar.Published.Count;

        using var refused = await mesh.ControlApi.PutAsJsonAsync("/api/pipelines/odd",
            new { teacher = "v", config = "templates: { size: 16 }\nauxiliary: 2x40x2\ntargets: [1x40x2, 1x32x3, 1x16x1]\n" });

        var detail = await RefusalAsync(refused);
        Assert.Contains("pipeline odd: 3 problems: auxiliary: width 40 is not a multiple of the template size 16; " +
                        "targets[0]: width 40 is not a multiple of the template size 16; targets[1]: heads (3) must divide width (32)", detail);
        Assert.Equal("[]", await mesh.ControlApi.GetStringAsync("/api/pipelines"));
        Assert.Equal(published, mesh.Sidecar.Published.Count);
    }

    [Fact]
    public async Task A_compatible_teacher_and_pipeline_are_accepted_in_either_order()
    {
        using (var created = await UploadAsync("w", Checkpoints.TeacherSpec))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.NotNull(await mesh.PutPipelineAsync("fits", "w", "templates: { size: 16 }\nauxiliary: 2x32x2\ntargets: [1x16x1, 4x64x4]\n"));

        Assert.Null(await mesh.PutPipelineAsync("first", "x", Pipeline));
        var registered = await mesh.UploadTeacherAsync("x", Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 3));
        Assert.True(registered.Changed);
        Assert.Single(registered.StartedRuns);
    }
}
