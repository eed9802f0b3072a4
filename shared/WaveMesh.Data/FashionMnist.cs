using static TorchSharp.torch;

namespace WaveMesh.Data;

/// <summary>
/// Fashion-MNIST (Zalando): 60,000 training and 10,000 test images, 28x28 grey, 10 classes,
/// stored as four IDX files (gzipped or not).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultRoot = "/usr/share/datasets/fashion-mnist";

    public const int ClassCount = 10;

    public static readonly string[] ClassNames =
    [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ];

    /// <summary>The file names looked for: <c>{prefix}-{kind}-idx{n}-ubyte</c>, with or without <c>.gz</c>.</summary>
    public static string ImagesFileName(bool train) => $"{Prefix(train)}-images-idx3-ubyte";

    public static string LabelsFileName(bool train) => $"{Prefix(train)}-labels-idx1-ubyte";

    /// <summary>
    /// Loads the training (<paramref name="train"/> = true) or test split from <paramref name="root"/>
    /// (<see cref="DefaultRoot"/> when null or empty) as uint8 [N, 1, 28, 28] images and int64 labels.
    /// </summary>
    /// <exception cref="DatasetNotFoundException">The folder or one of the two files is missing.</exception>
    /// <exception cref="DatasetFormatException">A file is corrupt or the two files disagree.</exception>
    public static ImageDataset Load(string? root, bool train)
    {
        string dir = string.IsNullOrWhiteSpace(root) ? DefaultRoot : root;
        string imagesPath = Locate(dir, ImagesFileName(train));
        string labelsPath = Locate(dir, LabelsFileName(train));

        var (pixels, imageDims) = IdxReader.Read(imagesPath);
        if (imageDims.Length != 3)
        {
            throw new DatasetFormatException(
                $"Bad Fashion-MNIST images file {imagesPath}: expected 3 dimensions [N, H, W], found [{string.Join(", ", imageDims)}]");
        }
        var (labelBytes, labelDims) = IdxReader.Read(labelsPath);
        if (labelDims.Length != 1)
        {
            throw new DatasetFormatException(
                $"Bad Fashion-MNIST labels file {labelsPath}: expected 1 dimension [N], found [{string.Join(", ", labelDims)}]");
        }
        if (labelDims[0] != imageDims[0])
        {
            throw new DatasetFormatException(
                $"Fashion-MNIST image/label count mismatch: {imagesPath} holds {imageDims[0]} images but {labelsPath} holds {labelDims[0]} labels");
        }

        var labels = new long[labelBytes.Length];
        for (int i = 0; i < labelBytes.Length; i++)
        {
            if (labelBytes[i] >= ClassCount)
            {
                throw new DatasetFormatException(
                    $"Bad Fashion-MNIST labels file {labelsPath}: label {labelBytes[i]} at index {i} is outside 0..{ClassCount - 1}");
            }
            labels[i] = labelBytes[i];
        }

        long n = imageDims[0];
        var imageTensor = tensor(pixels, [n, 1, imageDims[1], imageDims[2]], ScalarType.Byte);
        var labelTensor = tensor(labels, [n], ScalarType.Int64);
        return new ImageDataset(train ? "fashion-mnist/train" : "fashion-mnist/test", imageTensor, labelTensor, ClassCount);
    }

    private static string Prefix(bool train) => train ? "train" : "t10k";

    /// <summary>Finds <paramref name="baseName"/> in <paramref name="dir"/>, gzipped or not.</summary>
    private static string Locate(string dir, string baseName)
    {
        foreach (string candidate in new[] { baseName + ".gz", baseName })
        {
            string path = Path.Combine(dir, candidate);
            if (File.Exists(path)) return path;
        }
        string missing = baseName + ".gz";
        throw new DatasetNotFoundException(
            $"Fashion-MNIST not found at {dir} (missing {missing}): install the Debian package with `sudo apt-get install dataset-fashion-mnist`, or pass --data <dir> pointing at a folder with the four IDX files")
        {
            MissingPath = Directory.Exists(dir) ? Path.Combine(dir, missing) : dir,
        };
    }
}
