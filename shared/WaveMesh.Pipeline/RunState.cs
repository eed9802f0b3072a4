using WaveMesh.Contracts;

namespace WaveMesh.Pipeline;

/// <summary>One target and method of a run, as far as it has got.</summary>
public sealed class Branch(ModelSize target, string method)
{
    public ModelSize Target { get; } = target;
    public string Method { get; } = method;
    public ScalersTrained? Scalers { get; set; }
    public TargetFinetuned? Finetuned { get; set; }
    public TargetEvaluated? Init { get; set; }
    public TargetEvaluated? Final { get; set; }
    public bool IsComplete => Init is not null && Final is not null;
}

/// <summary>Everything a run has produced so far, arranged by target and method: what reports and ledgers read.</summary>
public sealed class RunState(PipelineDefinition definition, TeacherChanged teacher)
{
    readonly Dictionary<(ModelSize, string), Branch> branches = [];

    public PipelineDefinition Definition { get; } = definition;
    public TeacherChanged Teacher { get; } = teacher;
    public TargetEvaluated? TeacherEvaluation { get; private set; }
    public TemplatesDistilled? Templates { get; private set; }
    public List<StageFailed> Failures { get; } = [];
    public List<(ModelSize Target, string Method)> NotApplicable { get; } = [];
    public IReadOnlyCollection<Branch> Branches => branches.Values;

    public Branch Branch(ModelSize target, string method)
    {
        if (!branches.TryGetValue((target, method), out var b)) branches[(target, method)] = b = new Branch(target, method);
        return b;
    }

    internal void Record(IntegrationEvent e)
    {
        switch (e)
        {
            case TemplatesDistilled t: Templates = t; break;
            case ScalersTrained s: Branch(s.Target, Methods.Wave).Scalers = s; break;
            case TargetFinetuned f: Branch(f.Target, f.Method).Finetuned = f; break;
            case TargetEvaluated v when v.Subject == EvaluationSubject.Teacher: TeacherEvaluation = v; break;
            case TargetEvaluated v when EvaluationSubject.TryParse(v.Subject) is { } subject:
                var b = Branch(subject.Target, subject.Method);
                if (subject.Phase == EvaluationSubject.Init) b.Init = v; else b.Final = v;
                break;
            case StageFailed f: Failures.Add(f); break;
        }
    }
}
