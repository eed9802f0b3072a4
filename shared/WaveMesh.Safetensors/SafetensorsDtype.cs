namespace WaveMesh.Safetensors;

/// <summary>Element types defined by the safetensors format.</summary>
public enum SafetensorsDtype
{
    Bool,
    U8,
    I8,
    U16,
    I16,
    F16,
    BF16,
    U32,
    I32,
    F32,
    F64,
    U64,
    I64,
    F8E4M3,
    F8E5M2,
}

/// <summary>Header names and element sizes of <see cref="SafetensorsDtype"/> values.</summary>
public static class SafetensorsDtypeExtensions
{
    /// <summary>Size in bytes of one element.</summary>
    public static int ElementSize(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool or SafetensorsDtype.U8 or SafetensorsDtype.I8
            or SafetensorsDtype.F8E4M3 or SafetensorsDtype.F8E5M2 => 1,
        SafetensorsDtype.U16 or SafetensorsDtype.I16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 2,
        SafetensorsDtype.U32 or SafetensorsDtype.I32 or SafetensorsDtype.F32 => 4,
        SafetensorsDtype.U64 or SafetensorsDtype.I64 or SafetensorsDtype.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The string used for the dtype in a safetensors header, e.g. "F8_E4M3".</summary>
    public static string ToHeaderName(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool => "BOOL",
        SafetensorsDtype.U8 => "U8",
        SafetensorsDtype.I8 => "I8",
        SafetensorsDtype.U16 => "U16",
        SafetensorsDtype.I16 => "I16",
        SafetensorsDtype.F16 => "F16",
        SafetensorsDtype.BF16 => "BF16",
        SafetensorsDtype.U32 => "U32",
        SafetensorsDtype.I32 => "I32",
        SafetensorsDtype.F32 => "F32",
        SafetensorsDtype.F64 => "F64",
        SafetensorsDtype.U64 => "U64",
        SafetensorsDtype.I64 => "I64",
        SafetensorsDtype.F8E4M3 => "F8_E4M3",
        SafetensorsDtype.F8E5M2 => "F8_E5M2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>Parses a header dtype string (case-sensitive, as the format defines it).</summary>
    public static bool TryParseHeaderName(string? name, out SafetensorsDtype dtype)
    {
        switch (name)
        {
            case "BOOL": dtype = SafetensorsDtype.Bool; return true;
            case "U8": dtype = SafetensorsDtype.U8; return true;
            case "I8": dtype = SafetensorsDtype.I8; return true;
            case "U16": dtype = SafetensorsDtype.U16; return true;
            case "I16": dtype = SafetensorsDtype.I16; return true;
            case "F16": dtype = SafetensorsDtype.F16; return true;
            case "BF16": dtype = SafetensorsDtype.BF16; return true;
            case "U32": dtype = SafetensorsDtype.U32; return true;
            case "I32": dtype = SafetensorsDtype.I32; return true;
            case "F32": dtype = SafetensorsDtype.F32; return true;
            case "F64": dtype = SafetensorsDtype.F64; return true;
            case "U64": dtype = SafetensorsDtype.U64; return true;
            case "I64": dtype = SafetensorsDtype.I64; return true;
            case "F8_E4M3": dtype = SafetensorsDtype.F8E4M3; return true;
            case "F8_E5M2": dtype = SafetensorsDtype.F8E5M2; return true;
            default: dtype = default; return false;
        }
    }
}
