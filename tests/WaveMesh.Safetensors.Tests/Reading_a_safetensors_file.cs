namespace WaveMesh.Safetensors.Tests;

public sealed class Reading_a_safetensors_file : IDisposable
{
    // The JSON lists the tensors in another order than their data, as real files often do.
    private const string MixedHeader =
        """{"steps":{"dtype":"I64","shape":[],"data_offsets":[44,52]},"__metadata__":{"format":"pt","note":"hand made \u00e9"},"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"half":{"dtype":"F16","shape":[6],"data_offsets":[24,36]},"brain":{"dtype":"BF16","shape":[2,2],"data_offsets":[36,44]}}""";

    private static readonly float[] WeightValues = [1.5f, -2.25f, 0f, -0f, float.MaxValue, float.Epsilon];

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string WriteMixedFile() =>
        _folder.Write(HandMade.File(
            MixedHeader,
            HandMade.F32(WeightValues),
            HandMade.U16(0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x7E00),
            HandMade.U16(0x3F80, 0xC020, 0x4049, 0x0000),
            HandMade.I64(-7_000_000_000L)));

    [Fact]
    public void Reads_names_dtypes_shapes_and_offsets_ordered_by_position_in_the_data()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        Assert.Equal(
            new[]
            {
                new SafetensorsTensorInfo("weight", SafetensorsDtype.F32, [2, 3], 0, 24),
                new SafetensorsTensorInfo("half", SafetensorsDtype.F16, [6], 24, 36),
                new SafetensorsTensorInfo("brain", SafetensorsDtype.BF16, [2, 2], 36, 44),
                new SafetensorsTensorInfo("steps", SafetensorsDtype.I64, [], 44, 52),
            },
            file.Tensors);
        Assert.Equal(6, file["weight"].ElementCount);
        Assert.Equal(24, file["weight"].ByteLength);
        Assert.Equal(1, file["steps"].ElementCount);
        Assert.Equal(8, file["steps"].ByteLength);
    }

    [Fact]
    public void Reads_the_metadata()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        Assert.Equal(
            new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hand made é" },
            file.Metadata);
    }

    [Fact]
    public void Reports_the_data_offset_as_8_plus_the_header_length_and_the_full_path()
    {
        var path = WriteMixedFile();
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(8 + System.Text.Encoding.UTF8.GetByteCount(MixedHeader), file.DataOffset);
        Assert.Equal(Path.GetFullPath(path), file.Path);
    }

    [Fact]
    public void Reads_F32_values_bit_for_bit()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        var values = file.ReadFloat32("weight");

        Assert.Equal(
            WeightValues.Select(BitConverter.SingleToInt32Bits),
            values.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Reads_F16_and_BF16_values_as_float()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        var half = file.ReadFloat32("half");
        var brain = file.ReadFloat32("brain");

        Assert.Equal(new[] { 1f, -2f, 65504f, 5.9604645e-8f, float.PositiveInfinity }, half[..5]);
        Assert.True(float.IsNaN(half[5]));
        Assert.Equal(new[] { 1f, -2.5f, 3.140625f, 0f }, brain);
    }

    [Fact]
    public void Reads_into_a_span_of_the_element_count()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());
        var destination = new float[4];

        file.ReadFloat32("brain", destination);

        Assert.Equal(new[] { 1f, -2.5f, 3.140625f, 0f }, destination);
    }

    [Fact]
    public void Rejects_a_destination_span_of_another_length()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        var error = Assert.Throws<ArgumentException>(() => file.ReadFloat32("brain", new float[5]));

        Assert.Contains("has 4 elements but the destination holds 5", error.Message);
    }

    [Fact]
    public void Reads_the_raw_little_endian_bytes_of_any_dtype()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());
        var raw = new byte[8];

        file.ReadRaw("steps", raw);

        Assert.Equal(HandMade.I64(-7_000_000_000L), raw);
        Assert.Equal(-7_000_000_000L, BitConverter.ToInt64(raw));
    }

    [Fact]
    public void Rejects_reading_a_non_float_dtype_as_float()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        var error = Assert.Throws<SafetensorsFormatException>(() => file.ReadFloat32("steps"));

        Assert.Contains("tensor 'steps' has dtype I64; only F32, F16 and BF16 can be read as float", error.Message);
        Assert.Equal("steps", error.TensorName);
    }

    [Fact]
    public void Finds_tensors_by_name_and_names_a_missing_one()
    {
        using var file = SafetensorsFile.Open(WriteMixedFile());

        Assert.True(file.Contains("half"));
        Assert.False(file.Contains("missing"));
        Assert.False(file.Contains("__metadata__"));
        var error = Assert.Throws<KeyNotFoundException>(() => file["missing"]);
        Assert.Contains("'missing'", error.Message);
        Assert.Throws<KeyNotFoundException>(() => file.ReadFloat32("missing"));
    }

    [Theory]
    [InlineData((ushort)0x3C00, 1.0f)]
    [InlineData((ushort)0xC000, -2.0f)]
    [InlineData((ushort)0x3800, 0.5f)]
    [InlineData((ushort)0x3555, 0.333251953125f)]
    [InlineData((ushort)0x7BFF, 65504f)]
    [InlineData((ushort)0xFBFF, -65504f)]
    [InlineData((ushort)0x0001, 5.9604645e-8f)]
    [InlineData((ushort)0x03FF, 6.0975552e-5f)]
    [InlineData((ushort)0x0400, 6.1035156e-5f)]
    [InlineData((ushort)0x0000, 0f)]
    [InlineData((ushort)0x8000, -0f)]
    [InlineData((ushort)0x7C00, float.PositiveInfinity)]
    [InlineData((ushort)0xFC00, float.NegativeInfinity)]
    public void Converts_F16_bit_patterns_exactly(ushort bits, float expected)
    {
        var path = _folder.Write(HandMade.File("""{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}""", HandMade.U16(bits)));
        using var file = SafetensorsFile.Open(path);

        var value = Assert.Single(file.ReadFloat32("x"));

        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(value));
    }

    [Fact]
    public void Converts_the_smallest_F16_subnormal_to_two_to_the_minus_24()
    {
        var path = _folder.Write(HandMade.File("""{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}""", HandMade.U16(0x0001)));
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(Math.Pow(2, -24), Assert.Single(file.ReadFloat32("x")));
    }

    [Theory]
    [InlineData((ushort)0x7E00)]
    [InlineData((ushort)0x7C01)]
    [InlineData((ushort)0xFE00)]
    public void Converts_F16_NaN_patterns_to_NaN(ushort bits)
    {
        var path = _folder.Write(HandMade.File("""{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}""", HandMade.U16(bits)));
        using var file = SafetensorsFile.Open(path);

        Assert.True(float.IsNaN(Assert.Single(file.ReadFloat32("x"))));
    }

    [Theory]
    [InlineData((ushort)0x3F80, 1.0f)]
    [InlineData((ushort)0xC020, -2.5f)]
    [InlineData((ushort)0x4049, 3.140625f)]
    [InlineData((ushort)0x7F7F, 3.3895314e38f)]
    [InlineData((ushort)0x0001, 9.18355e-41f)]
    [InlineData((ushort)0x8000, -0f)]
    [InlineData((ushort)0x7F80, float.PositiveInfinity)]
    [InlineData((ushort)0xFF80, float.NegativeInfinity)]
    public void Converts_BF16_bit_patterns_exactly(ushort bits, float expected)
    {
        var path = _folder.Write(HandMade.File("""{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}""", HandMade.U16(bits)));
        using var file = SafetensorsFile.Open(path);

        var value = Assert.Single(file.ReadFloat32("x"));

        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(value));
    }

    [Fact]
    public void Converts_BF16_NaN_to_NaN()
    {
        var path = _folder.Write(HandMade.File("""{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}""", HandMade.U16(0x7FC0)));
        using var file = SafetensorsFile.Open(path);

        Assert.True(float.IsNaN(Assert.Single(file.ReadFloat32("x"))));
    }

    [Fact]
    public void Converts_an_F16_tensor_larger_than_one_conversion_chunk()
    {
        const int Count = 50_000; // 100 KB of F16, more than one 64 KB chunk
        ushort[] patterns = [0x3C00, 0xC000, 0x7BFF, 0x3800];
        float[] expected = [1f, -2f, 65504f, 0.5f];
        var bits = new ushort[Count];
        for (var i = 0; i < Count; i++)
        {
            bits[i] = patterns[i % 4];
        }

        var path = _folder.Write(HandMade.File(
            $$$"""{"big":{"dtype":"F16","shape":[{{{Count}}}],"data_offsets":[0,{{{Count * 2}}}]}}""",
            HandMade.U16(bits)));
        using var file = SafetensorsFile.Open(path);

        var values = file.ReadFloat32("big");

        Assert.Equal(Count, values.Length);
        Assert.Equal(Enumerable.Range(0, Count).Select(i => expected[i % 4]), values);
    }

    [Theory]
    [InlineData("BOOL", SafetensorsDtype.Bool, 1)]
    [InlineData("U8", SafetensorsDtype.U8, 1)]
    [InlineData("I8", SafetensorsDtype.I8, 1)]
    [InlineData("F8_E4M3", SafetensorsDtype.F8E4M3, 1)]
    [InlineData("F8_E5M2", SafetensorsDtype.F8E5M2, 1)]
    [InlineData("U16", SafetensorsDtype.U16, 2)]
    [InlineData("I16", SafetensorsDtype.I16, 2)]
    [InlineData("F16", SafetensorsDtype.F16, 2)]
    [InlineData("BF16", SafetensorsDtype.BF16, 2)]
    [InlineData("U32", SafetensorsDtype.U32, 4)]
    [InlineData("I32", SafetensorsDtype.I32, 4)]
    [InlineData("F32", SafetensorsDtype.F32, 4)]
    [InlineData("U64", SafetensorsDtype.U64, 8)]
    [InlineData("I64", SafetensorsDtype.I64, 8)]
    [InlineData("F64", SafetensorsDtype.F64, 8)]
    public void Knows_every_dtype_and_its_element_size(string headerName, SafetensorsDtype dtype, int size)
    {
        var bytes = HandMade.Counting(3 * size);
        var path = _folder.Write(HandMade.File(
            $$$"""{"t":{"dtype":"{{{headerName}}}","shape":[3],"data_offsets":[0,{{{3 * size}}}]}}""",
            bytes));
        using var file = SafetensorsFile.Open(path);
        var raw = new byte[3 * size];

        file.ReadRaw("t", raw);

        Assert.Equal(dtype, file["t"].Dtype);
        Assert.Equal(size, dtype.ElementSize());
        Assert.Equal(headerName, dtype.ToHeaderName());
        Assert.Equal(bytes, raw);
    }

    [Fact]
    public void Reads_a_file_without_metadata_with_empty_metadata()
    {
        var path = _folder.Write(HandMade.File("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", HandMade.F32(42f)));
        using var file = SafetensorsFile.Open(path);

        Assert.Empty(file.Metadata);
        Assert.Equal(new[] { 42f }, file.ReadFloat32("a"));
    }

    [Fact]
    public void Reads_a_file_with_no_tensors_and_an_empty_data_buffer()
    {
        var path = _folder.Write(HandMade.File("""{"__metadata__":{"empty":"yes"}}"""));
        using var file = SafetensorsFile.Open(path);

        Assert.Empty(file.Tensors);
        Assert.Equal("yes", file.Metadata["empty"]);
    }

    [Fact]
    public void Reads_zero_sized_tensors_beside_others()
    {
        var path = _folder.Write(HandMade.File(
            """{"none":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"one":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"last":{"dtype":"F16","shape":[2,0],"data_offsets":[4,4]}}""",
            HandMade.F32(7f)));
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(new[] { "none", "one", "last" }, file.Tensors.Select(t => t.Name));
        Assert.Empty(file.ReadFloat32("none"));
        Assert.Empty(file.ReadFloat32("last"));
        Assert.Equal(new[] { 7f }, file.ReadFloat32("one"));
    }

    [Fact]
    public void Accepts_a_header_padded_with_spaces()
    {
        var path = _folder.Write(HandMade.File(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""" + "       ",
            HandMade.F32(1f, 2f)));
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(new[] { 1f, 2f }, file.ReadFloat32("a"));
    }

    [Fact]
    public void Keeps_reading_the_opened_data_after_the_file_is_replaced()
    {
        var path = _folder.Write(HandMade.File("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", HandMade.F32(1f)));
        using var file = SafetensorsFile.Open(path);

        SafetensorsWriter.WriteFile(path, [new SafetensorsWriter.Entry("a", [1], new[] { 2f })]);

        Assert.Equal(new[] { 1f }, file.ReadFloat32("a"));
        using var replaced = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 2f }, replaced.ReadFloat32("a"));
    }

    [Fact]
    public void Refuses_reads_after_dispose()
    {
        var file = SafetensorsFile.Open(WriteMixedFile());
        file.Dispose();
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.ReadFloat32("weight"));
    }
}
