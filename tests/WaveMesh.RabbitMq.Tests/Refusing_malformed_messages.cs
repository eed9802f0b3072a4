using WaveMesh.Contracts;
using WaveMesh.RabbitMq.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WaveMesh.RabbitMq.Tests;

[Trait("Category", "Integration")]
public sealed class Refusing_malformed_messages(ITestOutputHelper output) : IAsyncLifetime
{
    Deployment deployment = null!;

    public async Task InitializeAsync() => deployment = await Deployment.StartAsync(output);
    public async Task DisposeAsync()
    {
        if (deployment is not null) await deployment.DisposeAsync();
    }

    [Fact]
    public async Task Moves_unreadable_bytes_to_the_error_queue_reports_StageFailed_and_keeps_taking_jobs()
    {
        deployment.StartWorker<Evaluator.EvaluatorService>("evaluator");
        var queue = $"{deployment.Prefix}-{StageNames.Evaluate}";
        const string garbage = "{ \"message\": this is not JSON at all";

        await Servers.PublishRawAsync(queue, garbage, "application/vnd.masstransit+json");

        var failed = await deployment.Events.WaitForAsync<StageFailed>(f => f.Description == "malformed message", TimeSpan.FromSeconds(30),
            "StageFailed for the malformed message");
        Assert.Equal(StageNames.Evaluate, failed.Stage);
        Assert.Contains("error queue", failed.Reason);
        var moved = await WaitForMessagesAsync($"{queue}_error", TimeSpan.FromSeconds(20));
        Assert.Equal(garbage, Assert.Single(moved).Payload);

        // The queue still works: a valid job sent after the garbage is run and answered.
        var store = deployment.FreshStore();
        var teacher = await store.PutAsync(new MemoryStream(TinyTeacher.Bytes), "vit");
        var job = new EvaluateModel(teacher.Digest, new DatasetRef(), "teacher") { RunId = Guid.NewGuid() };
        await deployment.Events.PublishAsync(job);

        var evaluated = await deployment.Events.WaitForAsync<TargetEvaluated>(e => e.JobKey == job.Key, TimeSpan.FromMinutes(1), "the valid job's result");
        Assert.Equal(job.RunId, evaluated.RunId);
        Assert.Equal("evaluator", evaluated.Stats.Worker);
        Assert.False(evaluated.Stats.Cached);
        Assert.Equal(10_000, evaluated.Examples);
        Assert.InRange(evaluated.Accuracy, 0.3, 1);   // the teacher: well above chance
        Assert.DoesNotContain(deployment.Events.All<StageFailed>(), f => f.RunId == job.RunId);
        Assert.Empty(await Servers.GetMessagesAsync($"{queue}_error", 10));   // nothing else went to the error queue
    }

    [Fact]
    public async Task Refuses_a_job_missing_a_required_field_as_every_transport_does()
    {
        deployment.StartWorker<Evaluator.EvaluatorService>("evaluator");
        var queue = $"{deployment.Prefix}-{StageNames.Evaluate}";
        // A MassTransit envelope around an EvaluateModel without its required model_digest: the contracts' JSON rules
        // (ContractJson) refuse it, as the Dapr path does; it must not run with a null digest.
        var runId = Guid.NewGuid();
        var envelope = $$$"""
            {"message_id":"{{{Guid.NewGuid()}}}","message_type":["urn:message:WaveMesh.Contracts:EvaluateModel"],
             "message":{"data":{"name":"fashion-mnist"},"subject":"teacher","run_id":"{{{runId}}}","id":"{{{Guid.NewGuid()}}}"}}
            """;

        await Servers.PublishRawAsync(queue, envelope, "application/vnd.masstransit+json");

        var failed = await deployment.Events.WaitForAsync<StageFailed>(f => f.Description == "malformed message", TimeSpan.FromSeconds(30),
            "StageFailed for the job missing its model digest");
        Assert.Equal(StageNames.Evaluate, failed.Stage);
        Assert.Contains("model_digest", failed.Reason);
        var moved = await WaitForMessagesAsync($"{queue}_error", TimeSpan.FromSeconds(20));
        Assert.Contains("\"subject\":\"teacher\"", Assert.Single(moved).Payload);
        Assert.DoesNotContain(deployment.Events.All<TargetEvaluated>(), e => e.RunId == runId);
    }

    static async Task<IReadOnlyList<(string Payload, System.Text.Json.JsonElement Properties)>> WaitForMessagesAsync(string queue, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var messages = await Servers.GetMessagesAsync(queue, 10);
                if (messages.Count > 0) return messages;
            }
            catch (HttpRequestException) { }   // the queue does not exist yet
            if (DateTime.UtcNow > until) throw new TimeoutException($"nothing arrived in {queue} within {timeout.TotalSeconds:F0} s");
            await Task.Delay(200);
        }
    }
}
