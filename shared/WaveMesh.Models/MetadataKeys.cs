namespace WaveMesh.Models;

/// <summary>Metadata keys WaveMesh writes into the <c>__metadata__</c> of its safetensors files.</summary>
public static class MetadataKeys
{
    public const string Kind = "wavemesh.kind";                       // vit | templates | scalers | logits
    public const string FormatVersion = "wavemesh.format_version";
    public const string Spec = "wavemesh.spec";                       // VitSpec JSON: the model, the target, or the templates' family
    public const string TemplateConfig = "wavemesh.template_config";   // TemplateConfig JSON
    public const string TeacherDigest = "wavemesh.teacher_digest";     // sha256 of the teacher file the templates were distilled from
    public const string TemplatesDigest = "wavemesh.templates_digest"; // sha256 of the templates file the scalers belong to
    public const string Carry = "wavemesh.carry";                     // how non-matrix parameters reach a new size (templates files)
    public const string Target = "wavemesh.target";                   // the size a scalers file or an initialised model is for (L6 D128 H4)
    public const string TemplateSize = "wavemesh.template_size";
    public const string TemplateCounts = "wavemesh.template_counts";   // matrix=8,vector=4,embedding=8
    public const string Init = "wavemesh.init";                       // how a model started: model | scratch | weight_selection | wave
    public const string InitDigest = "wavemesh.init_digest";           // sha256 of the model a fine-tuned model started from
    public const string ScalersDigest = "wavemesh.scalers_digest";     // sha256 of the scalers an initialised model was composed with
    public const string Method = "wavemesh.method";                   // wave | scratch | weight_selection | teacher
    public const string Steps = "wavemesh.steps";                     // training steps of a fine-tuned model
    public const string Source = "wavemesh.source";                   // file name a teacher was read from (artifact metadata)
    public const string Teacher = "wavemesh.teacher";                 // teacher name an uploaded checkpoint was registered under (artifact metadata)
    public const string Normalization = "wavemesh.normalization";     // {"mean":[..],"std":[..]}: what training did to pixels scaled to [0, 1]
    public const string Dataset = "wavemesh.dataset";                 // the data set a model was trained or initialised on (fashion-mnist)
    public const string Reference = "wavemesh.reference";             // whose logits a logits file holds ("teacher DIGEST", "auxiliary TEMPLATES SCALERS")
    public const string DatasetDigest = "wavemesh.dataset_digest";    // sha256 of that data set's archive, when it came from the store
    public const string CurrentFormat = "1";
}
