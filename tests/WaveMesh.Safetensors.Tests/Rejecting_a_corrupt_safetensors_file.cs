using System.Text;

namespace WaveMesh.Safetensors.Tests;

public sealed class Rejecting_a_corrupt_safetensors_file : IDisposable
{
    private const string GoodHeader = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Opens the bytes as a file and returns the format error, checking it is one line naming the file.</summary>
    private SafetensorsFormatException Reject(byte[] bytes, string expectedProblem, SafetensorsLimits? limits = null)
    {
        var path = _folder.Write(bytes, $"corrupt-{Guid.NewGuid():N}.safetensors");

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path, limits).Dispose());

        Assert.Contains(expectedProblem, error.Message);
        Assert.Contains(Path.GetFullPath(path), error.Message);
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\r', error.Message);
        Assert.Equal(Path.GetFullPath(path), error.FilePath);
        return error;
    }

    private SafetensorsFormatException RejectHeader(string headerJson, byte[] data, string expectedProblem) =>
        Reject(HandMade.File(headerJson, data), expectedProblem);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Rejects_a_file_shorter_than_8_bytes(int length)
    {
        Reject(new byte[length], $"file is {length} bytes, shorter than the 8-byte header length prefix");
    }

    [Fact]
    public void Rejects_a_header_length_of_zero()
    {
        Reject(HandMade.FileWithRawHeader(0, [], HandMade.F32(1f, 2f)), "header length is 0");
    }

    [Fact]
    public void Rejects_a_header_length_of_2_to_the_62_without_allocating_it()
    {
        var bytes = HandMade.FileWithRawHeader(1UL << 62, Encoding.UTF8.GetBytes("{}"));
        var path = _folder.Write(bytes);
        SafetensorsFile.Open(_folder.Write(HandMade.File("{}"), "warm-up.safetensors")).Dispose();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("header of 4611686018427387904 bytes exceeds the limit of 100000000", error.Message);
        Assert.True(allocated < 1_000_000, $"opening allocated {allocated} bytes");
    }

    [Fact]
    public void Rejects_the_largest_possible_header_length()
    {
        Reject(
            HandMade.FileWithRawHeader(ulong.MaxValue, Encoding.UTF8.GetBytes("{}")),
            "header of 18446744073709551615 bytes exceeds the limit of 100000000");
    }

    [Fact]
    public void Rejects_a_header_above_a_custom_limit()
    {
        var header = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

        Reject(
            HandMade.File(header, HandMade.F32(1f, 2f)),
            $"header of {header.Length} bytes exceeds the limit of 16",
            new SafetensorsLimits(MaxHeaderBytes: 16));
    }

    [Fact]
    public void Rejects_a_header_longer_than_the_file()
    {
        Reject(
            HandMade.FileWithRawHeader(100, Encoding.UTF8.GetBytes("{}")),
            "header of 100 bytes extends beyond the end of the file (10 bytes)");
    }

    [Fact]
    public void Rejects_a_header_that_is_not_UTF8()
    {
        byte[] header = [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'];

        Reject(HandMade.FileWithRawHeader((ulong)header.Length, header), "header is not valid UTF-8");
    }

    [Theory]
    [InlineData("""{"a":""")]
    [InlineData("""{"a":{"dtype":"F32",}}""")]
    [InlineData("not json")]
    [InlineData("{} {}")]
    public void Rejects_a_header_that_is_not_JSON(string header)
    {
        RejectHeader(header, [], "header is not valid JSON");
    }

    [Theory]
    [InlineData("[1,2]", "header is a JSON array, not a JSON object")]
    [InlineData("\"text\"", "header is a JSON string, not a JSON object")]
    [InlineData("null", "header is a JSON null, not a JSON object")]
    [InlineData("42", "header is a JSON number, not a JSON object")]
    public void Rejects_a_header_that_is_not_a_JSON_object(string header, string problem)
    {
        RejectHeader(header, [], problem);
    }

    [Fact]
    public void Rejects_a_string_that_is_not_valid_unicode()
    {
        RejectHeader("""{"\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", [], "not valid Unicode");
    }

    [Theory]
    [InlineData("""{"a":[0,8]}""", "entry for tensor 'a' is a JSON array, not an object")]
    [InlineData("""{"a":"F32"}""", "entry for tensor 'a' is a JSON string, not an object")]
    [InlineData("""{"a":null}""", "entry for tensor 'a' is a JSON null, not an object")]
    public void Rejects_a_tensor_entry_that_is_not_an_object(string header, string problem)
    {
        RejectHeader(header, [], problem);
    }

    [Theory]
    [InlineData("""{"a":{"shape":[2],"data_offsets":[0,8]}}""", "tensor 'a' has no \"dtype\"")]
    [InlineData("""{"a":{"dtype":"F32","data_offsets":[0,8]}}""", "tensor 'a' has no \"shape\"")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2]}}""", "tensor 'a' has no \"data_offsets\"")]
    public void Rejects_a_tensor_entry_missing_a_field(string header, string problem)
    {
        var error = RejectHeader(header, HandMade.F32(1f, 2f), problem);

        Assert.Equal("a", error.TensorName);
    }

    [Theory]
    [InlineData("F31")]
    [InlineData("f32")]
    [InlineData("F8_E8M0")]
    [InlineData("")]
    public void Rejects_an_unknown_dtype_and_names_it(string dtype)
    {
        RejectHeader(
            $$$"""{"a":{"dtype":"{{{dtype}}}","shape":[2],"data_offsets":[0,8]}}""",
            HandMade.F32(1f, 2f),
            $"tensor 'a' has unknown dtype '{dtype}'");
    }

    [Fact]
    public void Rejects_a_dtype_that_is_not_a_string()
    {
        RejectHeader(
            """{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' has a \"dtype\" that is a JSON number, not a string");
    }

    [Fact]
    public void Rejects_a_negative_dimension()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' has negative shape dimension 1 = -1");
    }

    [Theory]
    [InlineData("[1.5]", "shape dimension 0 = 1.5, not an integer")]
    [InlineData("[\"2\"]", "shape dimension 0 = \"2\", not an integer")]
    [InlineData("[1, 99999999999999999999]", "shape dimension 1 = 99999999999999999999, not an integer")]
    [InlineData("2", "has a \"shape\" that is a JSON number, not an array")]
    public void Rejects_a_shape_that_is_not_a_list_of_integers(string shape, string problem)
    {
        RejectHeader($$$"""{"a":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,8]}}""", HandMade.F32(1f, 2f), problem);
    }

    [Fact]
    public void Rejects_an_element_count_that_overflows()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}""",
            [],
            "tensor 'a' has shape [4294967296, 4294967296] whose element count overflows");
    }

    [Fact]
    public void Rejects_a_byte_size_that_overflows()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}""",
            [],
            "tensor 'a' has shape [4611686018427387904] whose byte size overflows");
    }

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0,8,16]")]
    [InlineData("[-1,8]")]
    [InlineData("[0,-8]")]
    [InlineData("[0,\"8\"]")]
    [InlineData("[0.5,8]")]
    [InlineData("[0,18446744073709551616]")]
    [InlineData("{\"begin\":0}")]
    [InlineData("null")]
    public void Rejects_data_offsets_that_are_not_two_non_negative_integers(string offsets)
    {
        RejectHeader(
            $$$"""{"a":{"dtype":"F32","shape":[2],"data_offsets":{{{offsets}}}}}""",
            HandMade.F32(1f, 2f),
            $"tensor 'a' has data_offsets {offsets}, not two non-negative integers");
    }

    [Fact]
    public void Rejects_data_offsets_with_begin_after_end()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' has data_offsets [8, 0] with begin after end");
    }

    [Fact]
    public void Rejects_a_byte_length_that_does_not_match_the_shape_and_dtype()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' has data_offsets [0, 8] spanning 8 bytes but its shape [3] of F32 needs 12 bytes");
    }

    [Fact]
    public void Rejects_offsets_outside_the_data_buffer()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' has data_offsets [8, 16] outside the data buffer of 8 bytes");
    }

    [Fact]
    public void Rejects_a_file_truncated_inside_the_data()
    {
        RejectHeader(GoodHeader, HandMade.F32(1f)[..3], "tensor 'a' has data_offsets [0, 8] outside the data buffer of 3 bytes");
    }

    [Fact]
    public void Rejects_overlapping_tensors()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            HandMade.F32(1f, 2f, 3f),
            "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap");
    }

    [Fact]
    public void Rejects_two_tensors_sharing_the_same_bytes()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}""",
            HandMade.F32(1f, 2f),
            "overlap");
    }

    [Fact]
    public void Rejects_a_hole_between_tensors()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}""",
            HandMade.F32(1f, 2f, 0f, 3f, 4f),
            "hole of 4 unused bytes at [8, 12) between tensor 'a' and tensor 'b'");
    }

    [Fact]
    public void Rejects_a_hole_before_the_first_tensor()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            HandMade.F32(0f, 1f, 2f),
            "hole of 4 unused bytes at [0, 4) between the start of the data buffer and tensor 'a'");
    }

    [Fact]
    public void Rejects_bytes_after_the_last_tensor()
    {
        RejectHeader(
            GoodHeader,
            HandMade.F32(1f, 2f, 3f),
            "hole of 4 unused bytes at the end of the data buffer after the last tensor 'a'");
    }

    [Fact]
    public void Rejects_data_in_a_file_without_tensors()
    {
        RejectHeader("{}", HandMade.F32(1f, 2f), "hole of 8 unused bytes at the end of the data buffer (no tensors)");
    }

    [Theory]
    [InlineData("\"pt\"", "\"__metadata__\" is a JSON string, not an object of strings")]
    [InlineData("[\"pt\"]", "\"__metadata__\" is a JSON array, not an object of strings")]
    [InlineData("null", "\"__metadata__\" is a JSON null, not an object of strings")]
    [InlineData("{\"format\":1}", "\"__metadata__\" value for key 'format' is a JSON number, not a string")]
    [InlineData("{\"format\":{\"nested\":\"x\"}}", "\"__metadata__\" value for key 'format' is a JSON object, not a string")]
    [InlineData("{\"k\":\"1\",\"k\":\"2\"}", "\"__metadata__\" key 'k' appears more than once")]
    public void Rejects_metadata_that_is_not_an_object_of_strings(string metadata, string problem)
    {
        RejectHeader($$$"""{"__metadata__":{{{metadata}}},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", HandMade.F32(1f, 2f), problem);
    }

    [Fact]
    public void Rejects_more_tensors_than_the_limit()
    {
        var header = """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}""";
        var bytes = HandMade.File(header, [1, 2, 3]);

        Reject(bytes, "header has more than the limit of 2 tensors", new SafetensorsLimits(MaxTensors: 2));
        using var accepted = SafetensorsFile.Open(_folder.Write(bytes, "three.safetensors"), new SafetensorsLimits(MaxTensors: 3));
        Assert.Equal(3, accepted.Tensors.Count);
    }

    [Fact]
    public void Rejects_a_tensor_name_given_twice()
    {
        RejectHeader(
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
            HandMade.F32(1f, 2f),
            "tensor 'a' appears more than once in the header");
    }

    [Fact]
    public void Escapes_control_characters_of_tensor_names_to_keep_the_message_on_one_line()
    {
        var error = RejectHeader(
            """{"bad\nname":{"dtype":"X","shape":[0],"data_offsets":[0,0]}}""",
            [],
            "tensor 'bad\\u000aname' has unknown dtype 'X'");

        Assert.Equal("bad\nname", error.TensorName);
    }

    [Fact]
    public void Rejects_a_read_from_a_file_truncated_after_it_was_opened()
    {
        var path = _folder.Write(HandMade.File(
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}""",
            HandMade.F32(1f, 2f, 3f, 4f, 5f)));
        using var file = SafetensorsFile.Open(path);
        using (var shrink = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            shrink.SetLength(file.DataOffset + 10);
        }

        Assert.Equal(new[] { 1f }, file.ReadFloat32("a"));
        var error = Assert.Throws<SafetensorsFormatException>(() => file.ReadFloat32("b"));
        var raw = Assert.Throws<SafetensorsFormatException>(() => file.ReadRaw("b", new byte[16]));

        Assert.Contains("unexpected end of file", error.Message);
        Assert.Contains("tensor 'b'", error.Message);
        Assert.Contains("truncated", raw.Message);
        Assert.Contains(Path.GetFullPath(path), error.Message);
    }

    [Fact]
    public void Throws_only_format_exceptions_for_every_truncation_and_byte_change_of_a_valid_file()
    {
        var good = HandMade.File(
            """{"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
            HandMade.U16(0x3C00, 0x4000),
            HandMade.F32(3f));
        var path = _folder.PathOf("mutant.safetensors");
        var rejected = 0;
        var accepted = 0;

        void Check(byte[] bytes)
        {
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var tensor in file.Tensors)
                {
                    file.ReadRaw(tensor.Name, new byte[tensor.ByteLength]);
                }

                accepted++;
            }
            catch (SafetensorsFormatException)
            {
                rejected++;
            }
        }

        for (var length = 0; length < good.Length; length++)
        {
            Check(good[..length]);
        }

        Assert.Equal(good.Length, rejected);
        for (var position = 0; position < good.Length - 8; position++)
        {
            foreach (var replacement in new byte[] { 0x00, (byte)'"', (byte)'9', (byte)'}', 0xFF })
            {
                var mutant = (byte[])good.Clone();
                mutant[position] = replacement;
                Check(mutant);
            }
        }

        Assert.True(rejected > good.Length + 100, $"only {rejected} rejections");
        Assert.True(accepted > 0, "no mutation was accepted");
    }
}
