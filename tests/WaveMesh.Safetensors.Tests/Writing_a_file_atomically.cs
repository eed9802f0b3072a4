using System.Buffers;

namespace WaveMesh.Safetensors.Tests;

public sealed class Writing_a_file_atomically : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static SafetensorsWriter.Entry Entry(string name, params float[] values) => new(name, [values.Length], values);

    private string WriteGoodFile()
    {
        var path = _folder.PathOf("model.safetensors");
        SafetensorsWriter.WriteFile(path, [Entry("good", 1f, 2f, 3f)], new Dictionary<string, string> { ["version"] = "1" });
        return path;
    }

    [Fact]
    public void Creates_the_file_and_leaves_no_temporary_file()
    {
        var path = _folder.PathOf("new.safetensors");

        SafetensorsWriter.WriteFile(path, [Entry("x", 5f)]);

        Assert.Equal(new[] { "new.safetensors" }, _folder.FileNames());
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 5f }, file.ReadFloat32("x"));
    }

    [Fact]
    public void Replaces_an_existing_file()
    {
        var path = WriteGoodFile();

        SafetensorsWriter.WriteFile(path, [Entry("better", 9f)]);

        Assert.Equal(new[] { "model.safetensors" }, _folder.FileNames());
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { "better" }, file.Tensors.Select(t => t.Name));
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Leaves_the_existing_file_unchanged_when_the_tensor_sequence_throws_after_the_first_tensor()
    {
        var path = WriteGoodFile();
        var before = File.ReadAllBytes(path);

        static IEnumerable<SafetensorsWriter.Entry> FailingSequence()
        {
            yield return Entry("first", 1f);
            throw new InvalidOperationException("source broke");
        }

        var error = Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.WriteFile(path, FailingSequence()));

        Assert.Equal("source broke", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "model.safetensors" }, _folder.FileNames());
    }

    [Fact]
    public void Leaves_the_existing_file_unchanged_when_tensor_data_fails_half_way_through_the_write()
    {
        var path = WriteGoodFile();
        var before = File.ReadAllBytes(path);
        using var broken = new BrokenMemory(length: 4, onAccess: () => _folder.FileNames().Select(n => new FileInfo(_folder.PathOf(n)).Length).ToArray());

        var error = Assert.Throws<IOException>(() => SafetensorsWriter.WriteFile(
            path,
            [new SafetensorsWriter.Entry("first", [100_000], new float[100_000]), new SafetensorsWriter.Entry("second", [4], broken.Memory)]));

        Assert.Equal("device lost", error.Message);
        // While the second tensor was being written, a temporary file beside the target already held the first one.
        var sizesDuringWrite = broken.SizesSeen ?? throw new InvalidOperationException("the broken tensor was never read");
        Assert.Equal(2, sizesDuringWrite.Length);
        Assert.Contains(sizesDuringWrite, size => size > 400_000);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "model.safetensors" }, _folder.FileNames());
    }

    [Fact]
    public void Leaves_the_existing_file_unchanged_when_an_entry_is_invalid()
    {
        var path = WriteGoodFile();
        var before = File.ReadAllBytes(path);

        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFile(path, [Entry("a", 1f), Entry("a", 2f)]));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "model.safetensors" }, _folder.FileNames());
    }

    [Fact]
    public void Leaves_nothing_behind_when_writing_a_new_file_fails()
    {
        var path = _folder.PathOf("never.safetensors");

        static IEnumerable<SafetensorsWriter.Entry> FailingSequence()
        {
            yield return Entry("first", 1f);
            throw new InvalidOperationException("source broke");
        }

        Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.WriteFile(path, FailingSequence()));

        Assert.Empty(_folder.FileNames());
    }

    /// <summary>Memory whose contents cannot be read: it fails the way a broken source of tensor data would.</summary>
    private sealed class BrokenMemory(int length, Func<long[]> onAccess) : MemoryManager<float>
    {
        public long[]? SizesSeen { get; private set; }

        public override Memory<float> Memory => CreateMemory(length);

        public override Span<float> GetSpan()
        {
            SizesSeen = onAccess();
            throw new IOException("device lost");
        }

        public override MemoryHandle Pin(int elementIndex = 0) => throw new IOException("device lost");

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
