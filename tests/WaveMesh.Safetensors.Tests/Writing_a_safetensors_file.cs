using System.Text;
using System.Text.Json;

namespace WaveMesh.Safetensors.Tests;

public sealed class Writing_a_safetensors_file : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Round_trips_tensors_and_metadata()
    {
        var weights = Enumerable.Range(0, 12).Select(i => (i * 0.25f) - 1.5f).ToArray();
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["step"] = "1200", ["note"] = "naïve \"quoted\" <tag> + 日本" };
        var path = _folder.PathOf("round-trip.safetensors");

        SafetensorsWriter.WriteFile(
            path,
            [
                new SafetensorsWriter.Entry("layers.0.weight", [3, 4], weights),
                new SafetensorsWriter.Entry("specials", [6], specials),
                new SafetensorsWriter.Entry("scalar", [], new[] { 42f }),
                new SafetensorsWriter.Entry("empty", [0, 5], Array.Empty<float>()),
                new SafetensorsWriter.Entry("ünïcode/名前", [1], new[] { 7f }),
            ],
            metadata);
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(
            new[]
            {
                new SafetensorsTensorInfo("layers.0.weight", SafetensorsDtype.F32, [3, 4], 0, 48),
                new SafetensorsTensorInfo("specials", SafetensorsDtype.F32, [6], 48, 72),
                new SafetensorsTensorInfo("scalar", SafetensorsDtype.F32, [], 72, 76),
                new SafetensorsTensorInfo("empty", SafetensorsDtype.F32, [0, 5], 76, 76),
                new SafetensorsTensorInfo("ünïcode/名前", SafetensorsDtype.F32, [1], 76, 80),
            },
            file.Tensors);
        Assert.Equal(metadata, file.Metadata);
        Assert.Equal(weights, file.ReadFloat32("layers.0.weight"));
        Assert.Equal(
            specials.Select(BitConverter.SingleToInt32Bits),
            file.ReadFloat32("specials").Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(new[] { 42f }, file.ReadFloat32("scalar"));
        Assert.Empty(file.ReadFloat32("empty"));
        Assert.Equal(new[] { 7f }, file.ReadFloat32("ünïcode/名前"));
        Assert.Equal(0, file.DataOffset % 8);
    }

    [Fact]
    public void Writes_the_expected_bytes_for_a_tiny_file()
    {
        using var stream = new MemoryStream();

        SafetensorsWriter.Write(
            stream,
            [new SafetensorsWriter.Entry("w", [2], new[] { 1f, -2f }), new SafetensorsWriter.Entry("b", [], new[] { 0.5f })],
            new Dictionary<string, string> { ["k"] = "v" });
        var bytes = stream.ToArray();

        var headerLength = (int)HandMade.HeaderLength(bytes);
        Assert.Equal(0, (8 + headerLength) % 8);
        Assert.Equal(8 + headerLength + 12, bytes.Length);
        var headerText = Encoding.UTF8.GetString(bytes, 8, headerLength);
        var json = headerText.TrimEnd(' ');
        Assert.EndsWith("}", json);
        Assert.True(headerLength - json.Length < 8, $"{headerLength - json.Length} bytes of padding");
        using (var document = JsonDocument.Parse(json))
        {
            var root = document.RootElement;
            Assert.Equal(
                new[] { "__metadata__", "w", "b" },
                root.EnumerateObject().Select(p => p.Name));
            Assert.Equal("v", root.GetProperty("__metadata__").GetProperty("k").GetString());
            Assert.Equal("F32", root.GetProperty("w").GetProperty("dtype").GetString());
            Assert.Equal(new[] { 2L }, root.GetProperty("w").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(new[] { 0L, 8L }, root.GetProperty("w").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Empty(root.GetProperty("b").GetProperty("shape").EnumerateArray());
            Assert.Equal(new[] { 8L, 12L }, root.GetProperty("b").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        }

        byte[] expectedData = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x3F];
        Assert.Equal(expectedData, bytes[(8 + headerLength)..]);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    public void Pads_the_header_with_spaces_so_the_data_starts_at_a_multiple_of_8(string name)
    {
        using var stream = new MemoryStream();

        SafetensorsWriter.Write(stream, [new SafetensorsWriter.Entry(name, [1], new[] { 3f })]);
        var bytes = stream.ToArray();

        var headerLength = (int)HandMade.HeaderLength(bytes);
        Assert.Equal(0, headerLength % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        var unpadded = header.TrimEnd(' ');
        Assert.EndsWith("}", unpadded);
        Assert.InRange(header.Length - unpadded.Length, 0, 7);
        Assert.Equal(HandMade.F32(3f), bytes[(8 + headerLength)..]);
    }

    [Fact]
    public void Writes_a_file_without_tensors()
    {
        var path = _folder.PathOf("empty.safetensors");

        SafetensorsWriter.WriteFile(path, []);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(16, bytes.Length);
        Assert.Equal(8UL, HandMade.HeaderLength(bytes));
        Assert.Equal("{}      ", Encoding.UTF8.GetString(bytes, 8, 8));
        using var file = SafetensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Writes_large_tensors_in_bounded_chunks_to_a_stream_that_cannot_seek()
    {
        var big = Enumerable.Range(0, 700_000).Select(i => (float)i).ToArray(); // 2.8 MB
        using var stream = new RecordingStream();

        SafetensorsWriter.Write(stream, [new SafetensorsWriter.Entry("big", [700, 1000], big), new SafetensorsWriter.Entry("tail", [1], new[] { -1f })]);

        Assert.True(stream.WriteCalls >= 4, $"{stream.WriteCalls} write calls");
        Assert.InRange(stream.LargestWrite, 1, 1 << 20);
        var path = _folder.Write(stream.Inner.ToArray());
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(big, file.ReadFloat32("big"));
        Assert.Equal(new[] { -1f }, file.ReadFloat32("tail"));
    }

    [Fact]
    public void Rejects_a_name_given_twice_before_writing_anything()
    {
        using var stream = new MemoryStream();

        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(
            stream,
            [new SafetensorsWriter.Entry("a", [1], new[] { 1f }), new SafetensorsWriter.Entry("a", [1], new[] { 2f })]));

        Assert.Contains("'a' appears more than once", error.Message);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void Rejects_a_tensor_called_metadata()
    {
        using var stream = new MemoryStream();

        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(
            stream,
            [new SafetensorsWriter.Entry("__metadata__", [1], new[] { 1f })]));

        Assert.Contains("'__metadata__'", error.Message);
        Assert.Equal(0, stream.Length);
    }

    [Theory]
    [InlineData(new long[] { 2, 3 }, 5, "shape [2, 3] (6 elements) but 5 values")]
    [InlineData(new long[] { }, 0, "shape [] (1 elements) but 0 values")]
    [InlineData(new long[] { 0 }, 1, "shape [0] (0 elements) but 1 values")]
    [InlineData(new long[] { 4294967296, 4294967296, 4 }, 4, "(too many elements) but 4 values")]
    [InlineData(new long[] { -2, -2 }, 4, "negative dimension in shape [-2, -2]")]
    public void Rejects_a_shape_that_does_not_match_the_data(long[] shape, int valueCount, string problem)
    {
        using var stream = new MemoryStream();

        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(
            stream,
            [new SafetensorsWriter.Entry("t", shape, new float[valueCount])]));

        Assert.Contains(problem, error.Message);
        Assert.Contains("'t'", error.Message);
        Assert.Equal(0, stream.Length);
    }

    /// <summary>A write-only, non-seekable stream that records the size of each write.</summary>
    private sealed class RecordingStream : Stream
    {
        public MemoryStream Inner { get; } = new();

        public int WriteCalls { get; private set; }

        public int LargestWrite { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            WriteCalls++;
            LargestWrite = Math.Max(LargestWrite, buffer.Length);
            Inner.Write(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
