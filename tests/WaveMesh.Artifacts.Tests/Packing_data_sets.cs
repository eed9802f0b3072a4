using System.Buffers.Binary;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace WaveMesh.Artifacts.Tests;

/// <summary>
/// A data set as one artifact: the same images and labels give the same archive bytes however they arrive (a folder,
/// gzipped files, an uploaded tar in a sub-folder with other files beside them); the archive is a plain ustar tar that
/// the system's tar reads; broken data sets are refused with a message naming the file.
/// </summary>
public sealed class Packing_data_sets : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>An IDX file of unsigned bytes, written by hand.</summary>
    static byte[] Idx(int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    static byte[] Gzip(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(raw);
        return output.ToArray();
    }

    /// <summary>Fashion-MNIST's four files with <paramref name="train"/> and <paramref name="test"/> 28x28 images; label i % 10.</summary>
    static Dictionary<string, byte[]> FashionFiles(int train = 12, int test = 5, byte badLabel = 0)
    {
        byte[] Images(int n) => Idx([n, 28, 28], [.. Enumerable.Range(0, n * 784).Select(i => (byte)(i * 7 % 251))]);
        byte[] Labels(int n) => Idx([n], [.. Enumerable.Range(0, n).Select(i => i == n - 1 && badLabel > 0 ? badLabel : (byte)(i % 10))]);
        return new()
        {
            ["train-images-idx3-ubyte"] = Images(train), ["train-labels-idx1-ubyte"] = Labels(train),
            ["t10k-images-idx3-ubyte"] = Images(test), ["t10k-labels-idx1-ubyte"] = Labels(test),
        };
    }

    string Folder(Dictionary<string, byte[]> files, bool gzip = false)
    {
        var folder = Path.Combine(temp.FolderPath, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(folder, gzip ? name + ".gz" : name), gzip ? Gzip(bytes) : bytes);
        return folder;
    }

    static byte[] PackFolder(string folder)
    {
        using var output = new MemoryStream();
        DatasetArchive.PackFolder(DatasetArchive.FashionMnist, folder, output);
        return output.ToArray();
    }

    [Fact]
    public void The_same_data_gives_the_same_bytes_from_plain_and_gzipped_files()
    {
        var files = FashionFiles();

        var plain = PackFolder(Folder(files));
        var gzipped = PackFolder(Folder(files, gzip: true));

        Assert.Equal(SHA256.HashData(plain), SHA256.HashData(gzipped));
    }

    [Fact]
    public void An_uploaded_tar_gz_with_a_folder_and_other_files_packs_to_the_same_archive_as_the_folder()
    {
        var files = FashionFiles();
        using var upload = new MemoryStream();
        using (var gzip = new GZipStream(upload, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "fashion/"));
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "fashion/README") { DataStream = new MemoryStream("hello"u8.ToArray()) });
            foreach (var (name, bytes) in files)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"fashion/{name}.gz") { DataStream = new MemoryStream(Gzip(bytes)) });
        }
        upload.Position = 0;
        using var packed = new MemoryStream();

        var summary = DatasetArchive.PackArchive(DatasetArchive.FashionMnist, upload, packed);

        Assert.Equal(new DatasetSummary("fashion-mnist", 12, 5, 1, 28, 28, 10), summary);
        Assert.Equal(PackFolder(Folder(files)), packed.ToArray());
    }

    [Fact]
    public void The_archive_is_a_plain_tar_the_system_tar_lists_and_extracts()
    {
        var files = FashionFiles();
        var archive = temp.Write("fashion.tar", PackFolder(Folder(files)));
        var into = Path.Combine(temp.FolderPath, "extracted");
        Directory.CreateDirectory(into);

        var listing = Run("tar", "--numeric-owner", "-tvf", archive);
        Run("tar", "-xf", archive, "-C", into);

        var lines = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
            lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]));
        Assert.All(lines, l => Assert.StartsWith("-rw-r--r-- 0/0", l));
        Assert.All(lines, l => Assert.Contains("1970-01-01 00:00", l));
        foreach (var (name, bytes) in files) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(into, name)));
    }

    [Fact]
    public void Extracting_gives_back_the_original_files()
    {
        var files = FashionFiles();
        var archive = temp.Write("fashion.tar", PackFolder(Folder(files, gzip: true)));
        var into = Path.Combine(temp.FolderPath, "out");

        var summary = DatasetArchive.Extract(DatasetArchive.FashionMnist, archive, into);

        Assert.Equal(12, summary.Train);
        Assert.Equal(files.Keys.Order(), Directory.GetFiles(into).Select(Path.GetFileName).Order()!);
        foreach (var (name, bytes) in files) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(into, name)));
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var files = FashionFiles();
        files.Remove("t10k-labels-idx1-ubyte");

        var e = Assert.Throws<DatasetArchiveException>(() => PackFolder(Folder(files)));

        Assert.Contains("t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) is missing", e.Message);
    }

    [Fact]
    public void A_label_outside_the_classes_is_named_with_its_example()
    {
        var e = Assert.Throws<DatasetArchiveException>(() => PackFolder(Folder(FashionFiles(badLabel: 10))));

        Assert.Equal("fashion-mnist: train-labels-idx1-ubyte: label 10 of example 11 is outside 0..9", e.Message);
    }

    [Fact]
    public void Images_and_labels_of_different_counts_are_refused()
    {
        var files = FashionFiles();
        files["t10k-labels-idx1-ubyte"] = FashionFiles(test: 4)["t10k-labels-idx1-ubyte"];

        var e = Assert.Throws<DatasetArchiveException>(() => PackFolder(Folder(files)));

        Assert.Equal("fashion-mnist: t10k-images-idx3-ubyte holds 5 images but t10k-labels-idx1-ubyte 4 labels", e.Message);
    }

    [Fact]
    public void A_truncated_images_file_is_refused()
    {
        var files = FashionFiles();
        files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][..^1];

        var e = Assert.Throws<DatasetArchiveException>(() => PackFolder(Folder(files)));

        Assert.Equal($"train-images-idx3-ubyte holds {12 * 784 - 1} data bytes, its header says {12 * 784}", e.Message);
    }

    [Fact]
    public void An_upload_that_is_not_a_tar_is_refused_and_an_unknown_data_set_too()
    {
        var notTar = Assert.Throws<DatasetArchiveException>(() => DatasetArchive.PackArchive(DatasetArchive.FashionMnist, new MemoryStream("not a tar at all, just text"u8.ToArray()), Stream.Null));
        var unknown = Assert.Throws<DatasetArchiveException>(() => DatasetArchive.Files("mnist"));

        Assert.StartsWith("fashion-mnist: the ", notTar.Message);
        Assert.Equal("unknown data set 'mnist': WaveMesh reads fashion-mnist and cifar-10", unknown.Message);
    }

    [Fact]
    public void Cifar_batches_are_checked_record_by_record()
    {
        var folder = Path.Combine(temp.FolderPath, "cifar-10-batches-bin");
        Directory.CreateDirectory(folder);
        foreach (var name in DatasetArchive.Files(DatasetArchive.Cifar10))
        {
            var records = new byte[3 * 3073];
            for (int r = 0; r < 3; r++) records[r * 3073] = (byte)(r + 7);
            File.WriteAllBytes(Path.Combine(folder, name), records);
        }
        using var output = new MemoryStream();

        var summary = DatasetArchive.PackFolder(DatasetArchive.Cifar10, temp.FolderPath, output);   // the parent folder works too
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), new byte[3073 + 5]);
        var e = Assert.Throws<DatasetArchiveException>(() => DatasetArchive.PackFolder(DatasetArchive.Cifar10, folder, Stream.Null));

        Assert.Equal(new DatasetSummary("cifar-10", 15, 3, 3, 32, 32, 10), summary);
        Assert.Contains("test_batch.bin is 3078 bytes, not a whole number of 3073-byte records", e.Message);
    }

    static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, Environment = { ["TZ"] = "UTC" } };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {error}");
        return output;
    }
}
