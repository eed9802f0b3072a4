using System.Buffers.Binary;
using System.Text;
using WaveMesh.Engine.Checkpoints;
using WaveMesh.Engine.Vit;
using WaveMesh.Engine.Wave;
using WaveMesh.Models;
using WaveMesh.Safetensors;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

public sealed class Saving_and_loading_checkpoints
{
    [Fact]
    public void A_saved_model_loads_with_its_spec_and_gives_the_same_logits()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        var spec = Tiny.Family.WithSize(3, 48, 3);
        var model = VisionTransformer.Create(spec, seed: 1);
        var path = Path.Combine(dir, "model.safetensors");
        ModelFile.Save(model, path);

        var loaded = ModelFile.Load(path);
        Assert.Equal(spec, loaded.Spec);
        var x = randn(2, 1, 28, 28);
        using var noGrad = no_grad();
        Assert.True(model.forward(x).Same(loaded.forward(x)));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("vit", file.Metadata[MetadataKeys.Kind]);
        Assert.Equal(VitLayout.Of(spec).Select(t => t.Name).Order(), file.Tensors.Select(t => t.Name).Order());
    }

    [Fact]
    public void A_timm_layout_file_without_metadata_loads_as_a_teacher_with_its_spec_read_from_the_shapes()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        // A DeiT-like layout: width 128 (2 heads of 64, timm's head size), depth 2, MLP ratio 4, 10 classes, BF16 weights.
        var spec = new VitSpec { ImageSize = 28, Channels = 1, PatchSize = 7, Depth = 2, Width = 128, Heads = 2, MlpRatio = 4, Classes = 10 };
        var weights = VisionTransformer.TimmInit(spec, seed: 3);
        var path = Path.Combine(dir, "timm.safetensors");
        WriteBf16(path, weights);

        var teacher = ModelFile.Load(path);
        Assert.Equal(spec, teacher.Spec);
        // BF16 keeps 8 bits of mantissa: every weight within 0.4% of the original.
        foreach (var (name, w) in teacher.Weights())
            Assert.True(w.allclose(weights[name], rtol: 4e-3, atol: 1e-6), name);
    }

    [Fact]
    public void A_checkpoint_of_another_shape_is_refused_naming_the_tensor_and_both_shapes()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        var spec = Tiny.Family.WithSize(2, 32, 2);
        var path = Path.Combine(dir, "model.safetensors");
        ModelFile.Save(VisionTransformer.Create(spec, 1), path);
        var tampered = Path.Combine(dir, "tampered.safetensors");
        using (var file = SafetensorsFile.Open(path))
        {
            var tensors = TensorFile.ReadAll(file);
            tensors["head.weight"] = zeros(7, 32);
            TensorFile.Save(tampered, tensors, file.Metadata);
        }
        var e = Assert.Throws<CheckpointMismatchException>(() => ModelFile.Load(tampered));
        Assert.Contains("tensor 'head.weight' has shape [7, 32], expected [10, 32]", e.Message);
    }

    [Fact]
    public void Templates_and_scalers_round_trip_with_metadata_saying_what_they_are()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var target = Tiny.Family.WithSize(4, 48, 3);
        var scalers = ScalerSet.Random(target, templates, seed: 2);
        var templatesPath = Path.Combine(dir, "templates.safetensors");
        var scalersPath = Path.Combine(dir, "scalers.safetensors");
        WaveFiles.SaveTemplates(templates, templatesPath, teacherDigest: "abc123");
        var templatesDigest = TensorFile.Digest(templatesPath);
        WaveFiles.SaveScalers(scalers, scalersPath, templatesDigest);

        var (t2, tInfo) = WaveFiles.LoadTemplates(templatesPath);
        var (s2, sInfo) = WaveFiles.LoadScalers(scalersPath);
        Assert.Equal("abc123", tInfo.TeacherDigest);
        Assert.Equal(Tiny.Templates, tInfo.Config);
        Assert.Equal(Tiny.Family, tInfo.Family);
        Assert.Equal(target, sInfo.Target);
        Assert.Equal(templatesDigest, sInfo.TemplatesDigest);
        var x = randn(2, 1, 28, 28);
        using var noGrad = no_grad();
        Assert.True(new TemplatedVit(templates, scalers).forward(x).Same(new TemplatedVit(t2, s2).forward(x)));

        using var file = SafetensorsFile.Open(templatesPath);
        Assert.Equal("templates", file.Metadata[MetadataKeys.Kind]);
        Assert.Equal("16", file.Metadata["wavemesh.template_size"]);
        Assert.Equal("matrix=4,vector=2,embedding=4", file.Metadata["wavemesh.template_counts"]);
    }

    [Fact]
    public void Loading_scalers_as_templates_is_refused_by_kind()
    {
        using var scope = NewDisposeScope();
        var dir = Tiny.TempFolder();
        var templates = TemplateSet.Create(Tiny.Family, Tiny.Templates, seed: 1);
        var path = Path.Combine(dir, "scalers.safetensors");
        WaveFiles.SaveScalers(ScalerSet.Random(Tiny.Family, templates, 2), path, null);
        var e = Assert.Throws<CheckpointMismatchException>(() => WaveFiles.LoadTemplates(path));
        Assert.Contains("holds WaveMesh scalers, not templates", e.Message);
    }

    /// <summary>Writes a safetensors file by hand (not with our writer): BF16 data, no metadata, timm names.</summary>
    static void WriteBf16(string path, Dictionary<string, Tensor> weights)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (name, t) in weights)
        {
            var values = t.contiguous().data<float>().ToArray();
            var bytes = new byte[values.Length * 2];
            for (int i = 0; i < values.Length; i++)
            {
                uint bits = BitConverter.SingleToUInt32Bits(values[i]);
                uint rounded = bits + 0x7FFF + ((bits >> 16) & 1);   // round to nearest even
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)(rounded >> 16));
            }
            if (header.Length > 1) header.Append(',');
            header.Append($"\"{name}\":{{\"dtype\":\"BF16\",\"shape\":[{string.Join(",", t.shape)}],\"data_offsets\":[{offset},{offset + bytes.Length}]}}");
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        header.Append('}');
        var headerBytes = Encoding.UTF8.GetBytes(header.ToString());
        using var f = File.Create(path);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
        f.Write(len);
        f.Write(headerBytes);
        foreach (var b in blobs) f.Write(b);
    }
}
