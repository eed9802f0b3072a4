using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

/// <summary>A teacher announced on the broker by another system (not uploaded) starts the runs of the pipelines that follow it.</summary>
[Trait("Category", "Integration")]
public sealed class Announcing_a_teacher(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);

    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task A_TeacherChanged_published_by_another_system_starts_the_same_runs_as_an_upload()
    {
        await deployment.StartAllAsync();
        // A pipeline follows a teacher that has no version yet: nothing runs.
        var put = new HttpRequestMessage(HttpMethod.Put, "/api/pipelines/follows")
        {
            Content = JsonContent.Create(new { teacher = Deployment.TeacherName, config = TinyConfigs.WaveOnly(0.03) }),
        };
        put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Deployment.ApiToken);
        using (var answer = await deployment.Api.SendAsync(put))
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);

        // Another system stores the teacher and announces it on the bus.
        var info = await deployment.FreshStore().PutAsync(new MemoryStream(TinyTeacher.Bytes), "vit");
        await deployment.Events.PublishAsync(new TeacherChanged(info.Digest, Deployment.TeacherName, new ModelFamily(), new ModelSize(2, 32, 2)));

        var started = await deployment.Events.WaitForAsync<TeacherChanged>(t => t.TeacherDigest == info.Digest && t.RunId != Guid.Empty,
            TimeSpan.FromMinutes(1), "the run started for the announced teacher");
        Assert.Equal($"{Deployment.TeacherName} v1", started.Name);
        var run = await deployment.WaitForRunAsync(started.RunId, TimeSpan.FromMinutes(3));
        Assert.Equal(RunOutcome.Succeeded, run.Status);
        await deployment.Events.WaitForAsync<ModelPromoted>(p => p.RunId == started.RunId, TimeSpan.FromMinutes(1), "the run's promotion");
    }
}
