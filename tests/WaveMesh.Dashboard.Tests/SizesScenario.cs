using WaveMesh.Contracts;
using WaveMesh.Observability;

namespace WaveMesh.Dashboard.Tests;

/// <summary>
/// Three runs in a ledger, as a week of work would leave them: a finished demo run (teacher trained in the run), a
/// failed run (its teacher checkpoint was corrupt), and the current run half-way through: four target sizes for WAVE,
/// scratch and weight selection, scratch results answered from the cache, one fine-tune failed, two jobs running and
/// one evaluation queued. The test then moves the current run on one message at a time.
/// </summary>
public sealed class SizesScenario
{
    public static readonly ModelSize TeacherSize = new(6, 128, 4);
    public static readonly ModelSize Auxiliary = new(4, 128, 4);
    public static readonly ModelSize Small = new(4, 64, 2), Medium = new(6, 96, 3), Large = new(6, 160, 5), Largest = new(8, 192, 6);
    public const string FailureReason = "loss became NaN at step 212 (learning rate 1e-3, batch 128, no warm-up left); gave up after 3 attempts";
    public const string Pipeline = "fashion-sizes";
    public const string TeacherName = "vit-l6-fashion v2";

    const string Distiller = "distiller-6f9c4", ScalerTrainer = "scaler-trainer-2b7d1", Finetuner1 = "finetuner-84c2a", Finetuner2 = "finetuner-19e07",
        Evaluator = "evaluator-5a3e8";

    readonly RunLedger ledger;
    readonly FabricatedRun run;

    SizesScenario(RunLedger ledger, FabricatedRun run)
    {
        this.ledger = ledger;
        this.run = run;
    }

    public FabricatedRun Current => run;
    public Guid DemoRun { get; private set; }
    public Guid FailedRun { get; private set; }

    /// <summary>Fine-tune of WAVE L6 D160 H5, running (step 150 of 600) when the scenario is built.</summary>
    public FinetuneTarget LiveFinetune { get; private set; } = null!;
    /// <summary>Scalers of L8 D192 H6, running (step 80 of 200).</summary>
    public TrainScalers LiveScalers { get; private set; } = null!;
    /// <summary>Final evaluation of weight selection L6 D96 H3, queued.</summary>
    public EvaluateModel QueuedEvaluation { get; private set; } = null!;
    /// <summary>Scratch L8 D192 H6: failed.</summary>
    public FinetuneTarget FailedFinetune { get; private set; } = null!;
    /// <summary>Final evaluation of WAVE L4 D64 H2 (succeeded): a job whose lineage reaches the teacher.</summary>
    public EvaluateModel WaveSmallFinal { get; private set; } = null!;
    public TemplatesDistilled Templates { get; private set; } = null!;

    public static readonly Func<int, double> WaveLoss = FabricatedRun.Loss(0.64, 0.33, 210, 3);

    public static SizesScenario Build(RunLedger ledger)
    {
        var now = DateTime.UtcNow;
        var scenario = new SizesScenario(ledger, new FabricatedRun(ledger, now.AddMinutes(-14)));
        scenario.DemoRun = Demo(ledger, now.AddDays(-2).AddHours(-3));
        scenario.FailedRun = CorruptTeacher(ledger, now.AddHours(-26));
        scenario.BuildCurrent();
        return scenario;
    }

    void BuildCurrent()
    {
        var r = run;
        r.Start(Pipeline, TeacherName, TeacherSize);
        var teacherEval = r.AskEvaluation(r.Teacher.TeacherDigest, "teacher");
        var distill = r.AskDistill(Auxiliary);
        var scratch = new[] { Small, Medium, Large, Largest }.ToDictionary(t => t, t => r.AskFinetune(t, "scratch", new InitSource(InitSource.Scratch)));
        var selection = new[] { Small, Medium }.ToDictionary(t => t,
            t => r.AskFinetune(t, "weight_selection", new InitSource(InitSource.WeightSelection, r.Teacher.TeacherDigest)));

        r.Evaluated(teacherEval, 0.8694, 0.3712, Evaluator);

        // Scratch does not depend on the teacher: the last run's results are reused.
        var scratchAcc = new Dictionary<ModelSize, (double Init, double Final)> { [Small] = (0.0981, 0.8034), [Medium] = (0.1027, 0.8221), [Large] = (0.0453, 0.8342) };
        foreach (var (target, (init, final)) in scratchAcc)
        {
            var done = r.Finetuned(scratch[target], Finetuner2, cached: true, 0.61, 0.72, 0.78, final - 0.004);
            var (ei, ef) = r.AskEvaluations(done);
            r.Evaluated(ei, init, 2.3026, Evaluator, cached: true);
            r.Evaluated(ef, final, 0.4811, Evaluator, cached: true);
        }

        // Scratch L8 D192 H6 diverges.
        FailedFinetune = scratch[Largest];
        r.Train(FailedFinetune, 211, FabricatedRun.Loss(2.31, 0.47, 110, 7), Finetuner2, 520);
        r.Progress(FailedFinetune, 212, double.NaN, Finetuner2, 520); // the ledger's JSON writes it as "NaN"
        r.Failed(FailedFinetune, FailureReason);

        // Stage 1 on its own worker while the baselines train.
        r.Train(distill, 469, FabricatedRun.Loss(2.12, 0.41, 95, 1), Distiller, 612);
        Templates = r.Distilled(distill, 0.8169, 53_898, Distiller);
        var scalers = new[] { Small, Medium, Large, Largest }.ToDictionary(t => t, t => r.AskScalers(Templates, t));

        var selectionAcc = new Dictionary<ModelSize, (double Init, double Final)> { [Small] = (0.4122, 0.8291), [Medium] = (0.4548, 0.8463) };
        foreach (var target in new[] { Small, Medium })
        {
            r.Train(selection[target], 600, FabricatedRun.Loss(1.38, 0.38, 120, 11), Finetuner2, target == Small ? 2610 : 1490, every: 15);
            var done = r.Finetuned(selection[target], Finetuner2, 0.77, 0.80, 0.82, selectionAcc[target].Final - 0.003);
            var (ei, ef) = r.AskEvaluations(done);
            r.Evaluated(ei, selectionAcc[target].Init, 1.6120, Evaluator);
            if (target == Medium) QueuedEvaluation = ef;
            else r.Evaluated(ef, selectionAcc[target].Final, 0.4702, Evaluator);
        }

        var waveAcc = new Dictionary<ModelSize, (double Init, double Final)> { [Small] = (0.7418, 0.8425), [Medium] = (0.7806, 0.8614) };
        foreach (var target in new[] { Small, Medium })
        {
            r.Train(scalers[target], 200, FabricatedRun.Loss(0.95, 0.48, 50, 5), ScalerTrainer, 880);
            var trained = r.ScalersTrained(scalers[target], ScalerTrainer);
            var finetune = r.AskFinetune(target, "wave", new InitSource(InitSource.Model, trained.ModelDigest));
            r.Train(finetune, 600, FabricatedRun.Loss(0.66, 0.34, 210, 13), Finetuner1, target == Small ? 2590 : 1510, every: 15);
            var done = r.Finetuned(finetune, Finetuner1, waveAcc[target].Init + 0.05, 0.82, 0.835, waveAcc[target].Final - 0.002);
            var (ei, ef) = r.AskEvaluations(done);
            r.Evaluated(ei, waveAcc[target].Init, 0.7413, Evaluator);
            r.Evaluated(ef, waveAcc[target].Final, 0.4019, Evaluator);
            if (target == Small) WaveSmallFinal = ef;
        }

        r.Train(scalers[Large], 200, FabricatedRun.Loss(0.92, 0.46, 50, 9), ScalerTrainer, 640);
        var large = r.ScalersTrained(scalers[Large], ScalerTrainer);
        LiveFinetune = r.AskFinetune(Large, "wave", new InitSource(InitSource.Model, large.ModelDigest));
        r.Train(LiveFinetune, 150, WaveLoss, Finetuner1, 815, every: 15);
        LiveScalers = scalers[Largest];
        r.Train(LiveScalers, 80, FabricatedRun.Loss(0.97, 0.47, 50, 21), ScalerTrainer, 410);
    }

    // ---- what the test does next, live ----

    public void AdvanceLiveFinetune(int step) => run.Train(LiveFinetune, step, WaveLoss, Finetuner1, 815, every: 15);

    public (EvaluateModel Init, EvaluateModel Final) FinishLiveFinetune()
    {
        AdvanceLiveFinetune(600);
        var done = run.Finetuned(LiveFinetune, Finetuner1, 0.842, 0.858, 0.866, 0.8701);
        return run.AskEvaluations(done);
    }

    public void Evaluate(EvaluateModel job, double accuracy) => run.Evaluated(job, accuracy, 0.3811, Evaluator);

    public void AdvanceLiveScalers(int step) => run.Train(LiveScalers, step, FabricatedRun.Loss(0.97, 0.47, 50, 21), ScalerTrainer, 410);

    // ---- older runs ----

    /// <summary>`./wavemesh run` of the demo: the teacher trained inside the run, one target, WAVE against scratch.</summary>
    static Guid Demo(RunLedger ledger, DateTime start)
    {
        var r = new FabricatedRun(ledger, start);
        var teacherJob = new FinetuneTarget(FabricatedRun.Family, TeacherSize, "teacher", new InitSource(InitSource.Scratch), FabricatedRun.Data,
            new TrainSettings(Steps: 1407), 0) { RunId = r.RunId, CreatedAt = start };
        r.Train(teacherJob, 1407, FabricatedRun.Loss(2.30, 0.31, 300, 17), "local", 1250, every: 25);
        var teacher = r.Finetuned(teacherJob, "local", 0.71, 0.81, 0.85, 0.866);
        r.Start("demo", $"teacher {TeacherSize}", TeacherSize, teacher.ModelDigest);
        r.Evaluated(r.AskEvaluation(teacher.ModelDigest, "teacher"), 0.8694, 0.3712, "local");
        var distill = r.AskDistill(Auxiliary);
        var scratch = r.AskFinetune(Large, "scratch", new InitSource(InitSource.Scratch));
        r.Train(distill, 469, FabricatedRun.Loss(2.12, 0.41, 95, 1), "local", 640);
        var templates = r.Distilled(distill, 0.8169, 53_898, "local");
        var scalers = r.AskScalers(templates, Large);
        r.Train(scalers, 200, FabricatedRun.Loss(0.92, 0.46, 50, 9), "local", 700);
        var trained = r.ScalersTrained(scalers, "local");
        var wave = r.AskFinetune(Large, "wave", new InitSource(InitSource.Model, trained.ModelDigest));
        r.Train(wave, 600, WaveLoss, "local", 830, every: 15);
        var waveDone = r.Finetuned(wave, "local", 0.842, 0.858, 0.866, 0.8688);
        var (wi, wf) = r.AskEvaluations(waveDone);
        r.Evaluated(wi, 0.8164, 0.5402, "local");
        r.Evaluated(wf, 0.8688, 0.3655, "local");
        r.Train(scratch, 600, FabricatedRun.Loss(2.31, 0.47, 110, 7), "local", 830, every: 15);
        var scratchDone = r.Finetuned(scratch, "local", 0.61, 0.72, 0.78, 0.8338);
        var (si, sf) = r.AskEvaluations(scratchDone);
        r.Evaluated(si, 0.0453, 2.3026, "local");
        r.Evaluated(sf, 0.8342, 0.4811, "local");
        r.Completed(RunOutcome.Succeeded, 8, 0);
        return r.RunId;
    }

    /// <summary>A teacher version whose checkpoint was truncated: stage 1 fails, the baselines finish.</summary>
    static Guid CorruptTeacher(RunLedger ledger, DateTime start)
    {
        var r = new FabricatedRun(ledger, start);
        r.Start(Pipeline, "vit-l6-fashion v1", TeacherSize);
        var teacherEval = r.AskEvaluation(r.Teacher.TeacherDigest, "teacher");
        var distill = r.AskDistill(Auxiliary);
        var scratch = r.AskFinetune(Small, "scratch", new InitSource(InitSource.Scratch));
        r.Advance(3);
        const string corrupt = "teacher checkpoint is corrupt: tensor blocks.4.mlp.fc1.weight ends at byte 1,482,112 but the file has 1,048,576 bytes";
        r.Failed(teacherEval, corrupt, attempts: 1);
        r.Failed(distill, corrupt, attempts: 1);
        r.Train(scratch, 600, FabricatedRun.Loss(2.31, 0.47, 110, 7), Finetuner2, 2600, every: 15);
        var done = r.Finetuned(scratch, Finetuner2, 0.61, 0.72, 0.78, 0.8030);
        var (ei, ef) = r.AskEvaluations(done);
        r.Evaluated(ei, 0.0981, 2.3026, Evaluator);
        r.Evaluated(ef, 0.8034, 0.5102, Evaluator);
        r.Completed(RunOutcome.Failed, 5, 2);
        return r.RunId;
    }
}
