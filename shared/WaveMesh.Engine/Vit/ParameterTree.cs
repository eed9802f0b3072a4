using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Vit;

/// <summary>
/// Registers parameters under dotted names ("blocks.0.attn.qkv.weight"), creating the intermediate modules on the
/// way, so that state dicts and checkpoints carry exactly those names.
/// </summary>
public static class ParameterTree
{
    sealed class Container(string name) : nn.Module(name);

    /// <summary>Registers <paramref name="value"/> (taking ownership) under <paramref name="dottedName"/> below <paramref name="root"/>.</summary>
    public static Parameter Add(nn.Module root, string dottedName, Tensor value, bool requiresGrad = true)
    {
        var parts = dottedName.Split('.');
        var parent = root;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            var child = parent.named_children().FirstOrDefault(c => c.name == parts[i]).module;
            if (child is null)
            {
                child = new Container(parts[i]);
                parent.register_module(parts[i], child);
            }
            parent = child;
        }
        // A parameter lives as long as its module, whatever dispose scope it was made in.
        var p = new Parameter(value, requiresGrad);
        p.DetachFromDisposeScope();
        parent.register_parameter(parts[^1], p);
        return p;
    }

    /// <summary>Current parameters by dotted name (read afresh: moving a module to a device replaces them).</summary>
    public static Dictionary<string, Tensor> Named(nn.Module root)
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in root.named_parameters()) d[name] = p;
        return d;
    }
}
