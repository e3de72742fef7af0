// Loads MNIST-family datasets from a directory holding the four IDX files (plain or .gz), as Dataset (N, 1, 28, 28) in [0, 1].
// File names tried, in order, for split P ∈ {train, t10k}: P-images-idx3-ubyte, P-images.idx3-ubyte, each with or
// without .gz (and the same for labels with idx1). The image count must equal the label count; labels must be < 10.
namespace ConvEngine.Data;

/// <summary>The MNIST handwritten digits (classes "0" … "9").</summary>
public static class Mnist
{
    /// <summary>The class names, "0" to "9".</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Loads the training (60 000) or test (10 000) split from <paramref name="directory"/>.</summary>
    /// <param name="directory">A directory with <c>train-images-idx3-ubyte[.gz]</c>, <c>train-labels-idx1-ubyte[.gz]</c>, <c>t10k-…</c>.</param>
    /// <param name="train">True for the training split, false for the test split.</param>
    public static Dataset Load(string directory, bool train) => IdxDatasetLoader.Load(directory, train, ClassNames, "mnist");
}

/// <summary>Fashion-MNIST (Zalando): 28x28 grayscale clothing images in 10 classes, same file layout as MNIST.</summary>
public static class FashionMnist
{
    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The directory where the system package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Loads the training (60 000) or test (10 000) split from <paramref name="directory"/>.</summary>
    /// <param name="directory">A directory with <c>train-images-idx3-ubyte[.gz]</c>, <c>train-labels-idx1-ubyte[.gz]</c>, <c>t10k-…</c>.</param>
    /// <param name="train">True for the training split, false for the test split.</param>
    public static Dataset Load(string directory, bool train) => IdxDatasetLoader.Load(directory, train, ClassNames, "fashion-mnist");
}

/// <summary>Loads an image/label IDX pair into a <see cref="Dataset"/>.</summary>
public static class IdxDatasetLoader
{
    /// <summary>
    /// Finds and loads the split's image and label files in <paramref name="directory"/>, validating both files and the pair
    /// (equal counts, labels below <paramref name="classNames"/>.Count); throws <see cref="FileNotFoundException"/> when a file is
    /// missing and <see cref="InvalidDataException"/> when one is corrupt.
    /// </summary>
    /// <param name="directory">The directory holding the files.</param>
    /// <param name="train">True for the <c>train-</c> files, false for <c>t10k-</c>.</param>
    /// <param name="classNames">The class names.</param>
    /// <param name="name">The dataset name used in <see cref="Dataset.Name"/>.</param>
    public static Dataset Load(string directory, bool train, IReadOnlyList<string> classNames, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(classNames);
        string prefix = train ? "train" : "t10k";
        string imagesPath = Find(directory, prefix, "images", 3);
        string labelsPath = Find(directory, prefix, "labels", 1);
        return FromFiles(imagesPath, labelsPath, classNames, $"{name}/{(train ? "train" : "test")}");
    }

    /// <summary>Loads an explicit image file and label file (plain or gzip) as a dataset of shape (N, 1, rows, cols).</summary>
    /// <param name="imagesPath">IDX images, magic 0x00000803.</param>
    /// <param name="labelsPath">IDX labels, magic 0x00000801.</param>
    /// <param name="classNames">The class names; every label must be below their count.</param>
    /// <param name="name">The dataset name.</param>
    public static Dataset FromFiles(string imagesPath, string labelsPath, IReadOnlyList<string> classNames, string name)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath);
        int count = images.Dimensions[0], rows = images.Dimensions[1], cols = images.Dimensions[2];
        if (labels.Dimensions[0] != count)
            throw new InvalidDataException($"IDX pair mismatch: '{imagesPath}' holds {count} images but '{labelsPath}' holds {labels.Dimensions[0]} labels.");
        var lab = new int[count];
        for (int i = 0; i < count; i++)
        {
            lab[i] = labels.Data[i];
            if (lab[i] >= classNames.Count)
                throw new InvalidDataException($"IDX file '{labelsPath}': label {lab[i]} at index {i} is outside [0, {classNames.Count}).");
        }
        var px = new float[images.Data.Length];
        for (int i = 0; i < px.Length; i++) px[i] = images.Data[i] / 255f; // exact division, as torchvision's ToTensor
        return new Dataset(px, lab, 1, rows, cols, classNames, name);
    }

    private static string Find(string directory, string prefix, string kind, int rank)
    {
        var candidates = new[] { $"{prefix}-{kind}-idx{rank}-ubyte", $"{prefix}-{kind}.idx{rank}-ubyte" }
            .SelectMany(n => new[] { n, n + ".gz" })
            .Select(n => Path.Combine(directory, n))
            .ToArray();
        foreach (var c in candidates)
            if (File.Exists(c)) return c;
        throw new FileNotFoundException($"No {prefix} {kind} file in '{directory}': tried {string.Join(", ", candidates.Select(Path.GetFileName))}.",
            candidates[0]);
    }
}
