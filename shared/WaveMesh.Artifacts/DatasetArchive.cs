using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;

namespace WaveMesh.Artifacts;

/// <summary>A data set the archive refuses: a file missing, truncated, or inconsistent with its partner.</summary>
public sealed class DatasetArchiveException(string message) : Exception(message);

/// <summary>What a packed data set holds.</summary>
public sealed record DatasetSummary(string Name, int Train, int Test, int Channels, int Height, int Width, int Classes);

/// <summary>
/// A data set as one content-addressed artifact: a POSIX (ustar) tar of its original files, uncompressed, in a fixed
/// order with fixed metadata (mode 0644, owner 0, time 0), so the same images and labels always give the same bytes and
/// the same digest, whether they came gzipped or not, from a folder or from an uploaded archive. Torch-free: the control
/// plane packs and checks, a worker extracts and loads (WaveMesh.Data). Any tar tool lists or extracts it.
/// </summary>
public static class DatasetArchive
{
    /// <summary>The artifact kind data sets are stored under.</summary>
    public const string Kind = "dataset";

    public const string FashionMnist = "fashion-mnist";
    public const string Cifar10 = "cifar-10";

    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> puts Fashion-MNIST (the only data set a host may have without being told).</summary>
    public const string FashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    const int Classes = 10;
    const int CifarSide = 32, CifarImageBytes = 3 * CifarSide * CifarSide, CifarRecordBytes = 1 + CifarImageBytes;

    /// <summary>The files of each data set WaveMesh reads, in archive order.</summary>
    public static IReadOnlyList<string> Files(string name) => name switch
    {
        FashionMnist => ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
        Cifar10 => ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"],
        _ => throw new DatasetArchiveException($"unknown data set '{name}': WaveMesh reads {FashionMnist} and {Cifar10}"),
    };

    /// <summary>Whether <paramref name="name"/> is a data set WaveMesh reads.</summary>
    public static bool IsKnown(string name) => name is FashionMnist or Cifar10;

    /// <summary>
    /// Packs a folder holding the data set's files (gzipped or not; for CIFAR-10 the cifar-10-batches-bin folder or its
    /// parent) into <paramref name="output"/>, after checking them.
    /// </summary>
    public static DatasetSummary PackFolder(string name, string folder, Stream output)
    {
        var files = Files(name);
        if (!Directory.Exists(folder)) throw new DatasetArchiveException($"{name}: folder {folder} does not exist");
        var dir = name == Cifar10 && !File.Exists(Path.Combine(folder, files[0])) && Directory.Exists(Path.Combine(folder, "cifar-10-batches-bin"))
            ? Path.Combine(folder, "cifar-10-batches-bin") : folder;
        var contents = new Dictionary<string, byte[]>();
        foreach (var file in files)
        {
            var plain = Path.Combine(dir, file);
            var path = File.Exists(plain) ? plain : File.Exists(plain + ".gz") ? plain + ".gz"
                : throw new DatasetArchiveException($"{name}: {file} (or {file}.gz) is missing in {dir}");
            contents[file] = Decompressed(File.ReadAllBytes(path), file);
        }
        return Write(name, contents, output);
    }

    /// <summary>
    /// Packs an uploaded archive (tar, or gzipped tar) holding the data set's files (gzipped or not, in any folder of
    /// the archive) into <paramref name="output"/>, after checking them; other files in the archive are ignored.
    /// </summary>
    public static DatasetSummary PackArchive(string name, Stream archive, Stream output)
    {
        var files = Files(name);
        var contents = new Dictionary<string, byte[]>();
        try
        {
            using var tar = new TarReader(Gunzipped(archive));
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                var file = Path.GetFileName(entry.Name);
                if (file.EndsWith(".gz", StringComparison.Ordinal)) file = file[..^3];
                if (!files.Contains(file)) continue;
                if (contents.ContainsKey(file)) throw new DatasetArchiveException($"{name}: the archive holds {file} twice");
                using var buffer = new MemoryStream();
                entry.DataStream.CopyTo(buffer);
                contents[file] = Decompressed(buffer.ToArray(), file);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DatasetArchiveException($"{name}: the upload is not a tar archive (plain or gzipped): {e.Message}");
        }
        if (files.Where(f => !contents.ContainsKey(f)).ToList() is { Count: > 0 } missing)
            throw new DatasetArchiveException($"{name}: the archive lacks {string.Join(", ", missing)} (each may be gzipped)");
        return Write(name, contents, output);
    }

    /// <summary>
    /// Extracts a packed data set into <paramref name="folder"/> (created), checking it again: only its own files, as the
    /// loaders of WaveMesh.Data expect them.
    /// </summary>
    public static DatasetSummary Extract(string name, string archivePath, string folder)
    {
        var contents = new Dictionary<string, byte[]>();
        using (var tar = new TarReader(File.OpenRead(archivePath)))
        {
            while (tar.GetNextEntry() is { DataStream: { } data } entry)
            {
                using var buffer = new MemoryStream();
                data.CopyTo(buffer);
                contents[entry.Name] = buffer.ToArray();
            }
        }
        var summary = Check(name, contents);
        Directory.CreateDirectory(folder);
        foreach (var file in Files(name)) File.WriteAllBytes(Path.Combine(folder, file), contents[file]);
        return summary;
    }

    static DatasetSummary Write(string name, Dictionary<string, byte[]> contents, Stream output)
    {
        var summary = Check(name, contents);
        using var tar = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        foreach (var file in Files(name))
        {
            var entry = new UstarTarEntry(TarEntryType.RegularFile, file)
            {
                DataStream = new MemoryStream(contents[file], writable: false),
                ModificationTime = DateTimeOffset.UnixEpoch,
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                Uid = 0, Gid = 0, UserName = "", GroupName = "",
            };
            tar.WriteEntry(entry);
        }
        return summary;
    }

    /// <summary>Every file present, whole and consistent with its partner; labels within the classes.</summary>
    static DatasetSummary Check(string name, IReadOnlyDictionary<string, byte[]> contents)
    {
        var files = Files(name);
        if (files.Where(f => !contents.ContainsKey(f)).ToList() is { Count: > 0 } missing)
            throw new DatasetArchiveException($"{name}: the archive lacks {string.Join(", ", missing)}");
        if (name == FashionMnist)
        {
            int Split(string prefix)
            {
                var images = Idx(contents[$"{prefix}-images-idx3-ubyte"], $"{prefix}-images-idx3-ubyte", 3);
                var labels = Idx(contents[$"{prefix}-labels-idx1-ubyte"], $"{prefix}-labels-idx1-ubyte", 1);
                if (images.Dims[1] != 28 || images.Dims[2] != 28)
                    throw new DatasetArchiveException($"{name}: {prefix}-images-idx3-ubyte holds {images.Dims[1]}x{images.Dims[2]} images, not 28x28");
                if (images.Dims[0] != labels.Dims[0])
                    throw new DatasetArchiveException($"{name}: {prefix}-images-idx3-ubyte holds {images.Dims[0]} images but {prefix}-labels-idx1-ubyte {labels.Dims[0]} labels");
                CheckLabels(name, $"{prefix}-labels-idx1-ubyte", labels.Body, 1, 0);
                return images.Dims[0];
            }
            return new DatasetSummary(name, Split("train"), Split("t10k"), 1, 28, 28, Classes);
        }
        int Records(string file)
        {
            var bytes = contents[file];
            if (bytes.Length == 0 || bytes.Length % CifarRecordBytes != 0)
                throw new DatasetArchiveException($"{name}: {file} is {bytes.Length} bytes, not a whole number of {CifarRecordBytes}-byte records (truncated, or not the binary version)");
            CheckLabels(name, file, bytes, CifarRecordBytes, 0);
            return bytes.Length / CifarRecordBytes;
        }
        return new DatasetSummary(name, files.Take(5).Sum(Records), Records(files[5]), 3, CifarSide, CifarSide, Classes);
    }

    static void CheckLabels(string name, string file, ReadOnlySpan<byte> bytes, int stride, int offset)
    {
        for (int i = offset, n = 0; i < bytes.Length; i += stride, n++)
            if (bytes[i] >= Classes) throw new DatasetArchiveException($"{name}: {file}: label {bytes[i]} of example {n} is outside 0..{Classes - 1}");
    }

    /// <summary>An IDX file of unsigned bytes: two zero bytes, type 0x08, the number of dimensions, big-endian int32 sizes, the data.</summary>
    static (int[] Dims, byte[] Body) Idx(byte[] bytes, string file, int dimensions)
    {
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
            throw new DatasetArchiveException($"{file} is not an IDX file of unsigned bytes (its first bytes are not 00 00 08)");
        if (bytes[3] != dimensions) throw new DatasetArchiveException($"{file} has {bytes[3]} dimensions, expected {dimensions}");
        int header = 4 + 4 * dimensions;
        if (bytes.Length < header) throw new DatasetArchiveException($"{file} is truncated in its header");
        var dims = new int[dimensions];
        long count = 1;
        for (int d = 0; d < dimensions; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (dims[d] <= 0) throw new DatasetArchiveException($"{file}: dimension {d} is {dims[d]}");
            count *= dims[d];
        }
        if (bytes.Length - header != count)
            throw new DatasetArchiveException($"{file} holds {bytes.Length - header} data bytes, its header says {count}");
        return (dims, bytes[header..]);
    }

    static byte[] Decompressed(byte[] bytes, string file)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gzip.CopyTo(plain);
            return plain.ToArray();
        }
        catch (InvalidDataException e) { throw new DatasetArchiveException($"{file}: corrupt gzip data: {e.Message}"); }
    }

    /// <summary>The archive itself, decompressed when it is gzipped (looked at by its first two bytes).</summary>
    static Stream Gunzipped(Stream archive)
    {
        if (!archive.CanSeek)
        {
            var copy = new MemoryStream();
            archive.CopyTo(copy);
            copy.Position = 0;
            archive = copy;
        }
        Span<byte> magic = stackalloc byte[2];
        var start = archive.Position;
        int got = archive.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        archive.Position = start;
        return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true) : archive;
    }
}
