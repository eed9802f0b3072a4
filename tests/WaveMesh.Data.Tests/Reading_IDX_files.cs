namespace WaveMesh.Data.Tests;

public sealed class Reading_IDX_files : IDisposable
{
    private static readonly int[] Dims = [3, 2, 2];
    private static readonly byte[] Content = [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255];
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Write(string name, byte[] bytes)
    {
        string path = _folder.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Reads_a_raw_file_written_by_the_test()
    {
        string path = Write("raw-idx3-ubyte", IdxFile.Bytes(Dims, Content));

        var (data, dims) = IdxReader.Read(path);

        Assert.Equal(Dims, dims);
        Assert.Equal(Content, data);
    }

    [Fact]
    public void Reads_a_gzipped_file_written_by_the_test()
    {
        string path = Write("gz-idx3-ubyte.gz", IdxFile.Gzip(IdxFile.Bytes(Dims, Content)));

        var (data, dims) = IdxReader.Read(path);

        Assert.Equal(Dims, dims);
        Assert.Equal(Content, data);
    }

    [Fact]
    public void Reads_a_one_dimensional_label_file()
    {
        byte[] labels = [9, 0, 0, 3, 0, 2, 7];
        string path = Write("labels-idx1-ubyte", IdxFile.Bytes([labels.Length], labels));

        var (data, dims) = IdxReader.Read(path);

        Assert.Equal([labels.Length], dims);
        Assert.Equal(labels, data);
    }

    [Fact]
    public void Detects_gzip_by_its_magic_bytes_not_by_the_file_name()
    {
        string gzipNamedPlain = Write("plain.idx", IdxFile.Gzip(IdxFile.Bytes(Dims, Content)));
        string plainNamedGzip = Write("looks-compressed.gz", IdxFile.Bytes(Dims, Content));

        Assert.Equal(Content, IdxReader.Read(gzipNamedPlain).Data);
        Assert.Equal(Content, IdxReader.Read(plainNamedGzip).Data);
    }

    [Fact]
    public void Rejects_a_bad_magic()
    {
        byte[] bytes = IdxFile.Bytes(Dims, Content);
        bytes[0] = 0x01;
        string path = Write("bad-magic", bytes);

        var error = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(path));

        Assert.Contains("magic", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(path, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Rejects_truncated_data()
    {
        byte[] full = IdxFile.Bytes(Dims, Content);
        string path = Write("truncated", full[..^3]);

        var error = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(path));

        Assert.Contains("truncated", error.Message);
        Assert.Contains("12", error.Message);
    }

    [Fact]
    public void Rejects_truncated_gzipped_data()
    {
        string path = Write("truncated.gz", IdxFile.Gzip(IdxFile.Bytes(Dims, Content[..^5])));
        // The gzip stream itself is intact; the IDX content inside it is short.

        var error = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(path));

        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Rejects_a_file_cut_inside_its_header()
    {
        byte[] full = IdxFile.Bytes(Dims, Content);
        string tiny = Write("tiny", full[..3]);
        string cutDims = Write("cut-dims", full[..9]);

        Assert.Contains("Truncated", Assert.Throws<DatasetFormatException>(() => IdxReader.Read(tiny)).Message);
        Assert.Contains("Truncated", Assert.Throws<DatasetFormatException>(() => IdxReader.Read(cutDims)).Message);
    }

    [Fact]
    public void Rejects_dimensions_that_do_not_match_the_length()
    {
        string raw = Write("too-long", IdxFile.Bytes([2, 2, 2], Content));          // dims say 8, file holds 12
        string gz = Write("too-long.gz", IdxFile.Gzip(IdxFile.Bytes([2, 2, 2], Content)));

        var rawError = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(raw));
        var gzError = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(gz));

        Assert.Contains("[2, 2, 2]", rawError.Message);
        Assert.Contains("holds 12", rawError.Message);
        Assert.Contains("[2, 2, 2]", gzError.Message);
    }

    [Fact]
    public void Rejects_an_element_type_other_than_unsigned_byte_naming_it()
    {
        string path = Write("floats", IdxFile.Bytes([3], new byte[12], type: 0x0D));

        var error = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(path));

        Assert.Contains("0x0D", error.Message);
        Assert.Contains("float32", error.Message);
    }

    [Fact]
    public void Rejects_corrupt_gzip_data()
    {
        byte[] gz = IdxFile.Gzip(IdxFile.Bytes(Dims, Content));
        for (int i = 10; i < gz.Length - 8; i++) gz[i] ^= 0x5A;
        string path = Write("corrupt.gz", gz);

        Assert.Throws<DatasetFormatException>(() => IdxReader.Read(path));
    }

    [Fact]
    public void Reports_a_missing_file_as_not_found()
    {
        string path = _folder.File("nothing-here");

        var error = Assert.Throws<DatasetNotFoundException>(() => IdxReader.Read(path));

        Assert.Contains(path, error.Message);
        Assert.Equal(path, error.MissingPath);
    }
}
