using static TorchSharp.torch;

namespace WaveMesh.Data;

/// <summary>
/// CIFAR-10, binary version (cifar-10-batches-bin): 50,000 training images in data_batch_1..5.bin
/// and 10,000 test images in test_batch.bin, 32x32 RGB, 10 classes. Each record is one label byte
/// followed by 3072 pixel bytes: the red, green and blue 32x32 planes in row-major order.
/// </summary>
public static class Cifar10
{
    public const int ClassCount = 10;
    public const int Side = 32;
    public const int ImageBytes = 3 * Side * Side;
    public const int RecordBytes = 1 + ImageBytes;
    public const string FolderName = "cifar-10-batches-bin";

    public static readonly string[] ClassNames =
    [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ];

    /// <summary>The batch files of a split, in load order.</summary>
    public static IReadOnlyList<string> FileNames(bool train) => train
        ? ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
        : ["test_batch.bin"];

    /// <summary>
    /// Loads a split as uint8 [N, 3, 32, 32] images and int64 labels. <paramref name="root"/> is the
    /// cifar-10-batches-bin folder itself or its parent.
    /// </summary>
    /// <exception cref="DatasetNotFoundException">The folder or a batch file is missing.</exception>
    /// <exception cref="DatasetFormatException">A batch file is not a whole number of records or holds a bad label.</exception>
    public static ImageDataset Load(string root, bool train)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        var files = FileNames(train);
        string dir = Resolve(root, files[0]);

        var paths = new string[files.Count];
        long totalRecords = 0;
        for (int f = 0; f < files.Count; f++)
        {
            paths[f] = Path.Combine(dir, files[f]);
            if (!File.Exists(paths[f])) throw NotFound(dir, files[f], paths[f]);
            long length = new FileInfo(paths[f]).Length;
            if (length == 0 || length % RecordBytes != 0)
            {
                throw new DatasetFormatException(
                    $"Bad CIFAR-10 batch file {paths[f]}: {length} bytes is not a whole, non-zero number of {RecordBytes}-byte records (truncated or not the binary version)");
            }
            totalRecords += length / RecordBytes;
        }
        if (totalRecords * ImageBytes > Array.MaxLength)
        {
            throw new DatasetFormatException($"CIFAR-10 folder {dir} holds too many records ({totalRecords})");
        }

        var pixels = GC.AllocateUninitializedArray<byte>((int)(totalRecords * ImageBytes));
        var labels = new long[totalRecords];
        int record = 0;
        foreach (string path in paths)
        {
            byte[] raw = File.ReadAllBytes(path);
            if (raw.Length % RecordBytes != 0)
            {
                throw new DatasetFormatException($"Bad CIFAR-10 batch file {path}: it changed size while being read");
            }
            for (int offset = 0; offset < raw.Length; offset += RecordBytes, record++)
            {
                byte label = raw[offset];
                if (label >= ClassCount)
                {
                    throw new DatasetFormatException(
                        $"Bad CIFAR-10 batch file {path}: label {label} of record {offset / RecordBytes} is outside 0..{ClassCount - 1}");
                }
                labels[record] = label;
                Buffer.BlockCopy(raw, offset + 1, pixels, record * ImageBytes, ImageBytes);
            }
        }

        var imageTensor = tensor(pixels, [totalRecords, 3, Side, Side], ScalarType.Byte);
        var labelTensor = tensor(labels, [totalRecords], ScalarType.Int64);
        return new ImageDataset(train ? "cifar-10/train" : "cifar-10/test", imageTensor, labelTensor, ClassCount);
    }

    /// <summary>Accepts either the cifar-10-batches-bin folder or its parent.</summary>
    private static string Resolve(string root, string probeFile)
    {
        if (File.Exists(Path.Combine(root, probeFile))) return root;
        string nested = Path.Combine(root, FolderName);
        if (File.Exists(Path.Combine(nested, probeFile))) return nested;
        throw NotFound(root, probeFile, Directory.Exists(root) ? Path.Combine(root, probeFile) : root);
    }

    private static DatasetNotFoundException NotFound(string dir, string file, string missingPath) => new(
        $"CIFAR-10 not found at {dir} (missing {file}): download the binary version (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html), unpack it, and pass --data <dir> pointing at its cifar-10-batches-bin folder (or that folder's parent)")
    {
        MissingPath = missingPath,
    };
}
