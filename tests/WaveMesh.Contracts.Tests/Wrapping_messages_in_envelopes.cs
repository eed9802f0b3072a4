using System.Text.Json;

namespace WaveMesh.Contracts.Tests;

public sealed class Wrapping_messages_in_envelopes
{
    /// <summary>An envelope as a store or transport keeps it: serialised, then read back from text.</summary>
    static Envelope ThroughText(Envelope envelope) => ContractJson.Deserialize<Envelope>(ContractJson.Serialize(envelope));

    [Theory]
    [MemberData(nameof(Samples.AllTypes), MemberType = typeof(Samples))]
    public void Round_trips_every_message_type_with_all_its_values(string type)
    {
        var message = Samples.Message(type);

        var envelope = ThroughText(Envelope.Of(message));
        var opened = envelope.Open();

        Assert.Equal(type, envelope.Type);
        Assert.IsType(message.GetType(), opened);
        Assert.Equal(ContractJson.Serialize(message), ContractJson.Serialize(opened));
    }

    [Theory]
    [MemberData(nameof(Samples.AllTypes), MemberType = typeof(Samples))]
    public void Keeps_the_id_run_and_cause_of_every_message(string type)
    {
        var message = Samples.Message(type);

        var opened = ThroughText(Envelope.Of(message)).Open();

        var (id, run, cause, openedId, openedRun, openedCause) = (message, opened) switch
        {
            (StageJob j, StageJob o) => (j.Id, j.RunId, j.CausationId, o.Id, o.RunId, o.CausationId),
            (IntegrationEvent e, IntegrationEvent o) => (e.Id, e.RunId, e.CausationId, o.Id, o.RunId, o.CausationId),
            _ => throw new InvalidOperationException(type),
        };
        Assert.Equal(id, openedId);
        Assert.Equal(Samples.Run, openedRun);
        Assert.Equal(run, openedRun);
        Assert.Equal(Samples.Cause, openedCause);
        Assert.Equal(cause, openedCause);
    }

    [Theory]
    [MemberData(nameof(Samples.JobTypes), MemberType = typeof(Samples))]
    public void Keeps_the_key_of_a_job_through_an_envelope(string type)
    {
        var job = (StageJob)Samples.Message(type);

        var opened = (StageJob)ThroughText(Envelope.Of(job)).Open();

        Assert.Equal(job.Key, opened.Key);
        Assert.Equal(job, opened);
    }

    [Fact]
    public void Round_trips_the_values_inside_a_finetuning_result()
    {
        var original = (TargetFinetuned)Samples.Event(typeof(TargetFinetuned));

        var opened = (TargetFinetuned)ThroughText(Envelope.Of(original)).Open();

        Assert.Equal(original.Target, opened.Target);
        Assert.Equal(original.Curve, opened.Curve);
        Assert.Equal(original.Stats, opened.Stats);
        Assert.Equal(original.CreatedAt, opened.CreatedAt);
        Assert.Equal(DateTimeKind.Utc, opened.CreatedAt.Kind);
    }

    [Fact]
    public void Round_trips_accuracies_that_are_not_numbers()
    {
        var evaluated = (TargetEvaluated)Samples.Event(typeof(TargetEvaluated)) with { Accuracy = double.NaN, Loss = double.PositiveInfinity };

        var opened = (TargetEvaluated)ThroughText(Envelope.Of(evaluated)).Open();

        Assert.True(double.IsNaN(opened.Accuracy));
        Assert.Equal(double.PositiveInfinity, opened.Loss);
    }

    [Fact]
    public void Writes_snake_case_property_names()
    {
        var json = Envelope.Of(Samples.Event(typeof(ScalersTrained))).Json;

        Assert.Contains("\"job_key\":\"key-2\"", json);
        Assert.Contains("\"scalers_digest\":", json);
        Assert.Contains("\"run_id\":\"11111111-2222-3333-4444-555555555555\"", json);
        Assert.Contains("\"examples_per_second\":1536.25", json);
    }

    [Fact]
    public void Refuses_to_open_an_envelope_of_an_unknown_type()
    {
        var envelope = new Envelope("NoSuchMessage", "{}");

        var error = Assert.Throws<JsonException>(() => envelope.Open());

        Assert.Contains("NoSuchMessage", error.Message);
    }

    [Fact]
    public void Lists_every_concrete_event_and_job_of_the_contracts()
    {
        var types = typeof(StageJob).Assembly.GetTypes().Where(t => !t.IsAbstract && t.IsClass).ToList();
        var events = types.Where(t => typeof(IntegrationEvent).IsAssignableFrom(t)).OrderBy(t => t.Name).ToList();
        var jobs = types.Where(t => typeof(StageJob).IsAssignableFrom(t)).OrderBy(t => t.Name).ToList();

        Assert.Equal(events, MessageTypes.Events.OrderBy(t => t.Name));
        Assert.Equal(jobs, MessageTypes.Jobs.OrderBy(t => t.Name));
        foreach (var type in events.Concat(jobs)) Assert.Same(type, MessageTypes.Find(type.Name));
    }

    [Fact]
    public void Names_the_output_artifacts_of_each_result()
    {
        Assert.Equal([Samples.DigestB, Samples.DigestC], MessageTypes.Outputs(Samples.Event(typeof(TemplatesDistilled))));
        Assert.Equal([Samples.DigestC, Samples.DigestA], MessageTypes.Outputs(Samples.Event(typeof(ScalersTrained))));
        Assert.Equal([Samples.DigestB, Samples.DigestC], MessageTypes.Outputs(Samples.Event(typeof(TargetFinetuned))));
        Assert.Empty(MessageTypes.Outputs(Samples.Event(typeof(TargetEvaluated))));
        Assert.Empty(MessageTypes.Outputs(Samples.Event(typeof(StageFailed))));
    }
}
