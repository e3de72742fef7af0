using ConvEngine.Data;

namespace ConvEngine.Cli;

/// <summary>A loaded data set: splits, class names and the normalisation to apply.</summary>
internal sealed record DataChoice(string Name, Dataset? Train, Dataset Test, IReadOnlyList<string> ClassNames, float Mean, float Std);

/// <summary>Resolves <c>--data</c>: fashion-mnist, mnist, shapes, or a folder of IDX files.</summary>
internal static class DataCatalog
{
    public const string MnistDirectory = "/usr/share/datasets/mnist";
    // Published statistics of the training sets (torchvision's usual constants).
    private const float FashionMean = 0.2860f, FashionStd = 0.3530f, MnistMean = 0.1307f, MnistStd = 0.3081f;
    private const int ShapesTrain = 6000, ShapesTest = 1000;

    /// <param name="data">The --data value.</param>
    /// <param name="needTrain">Whether to load the training split (eval and predict need only the test split).</param>
    /// <param name="limitTrain">Keep only the first N training images (null: all).</param>
    /// <param name="limitTest">Keep only the first N test images (null: all).</param>
    public static DataChoice Load(string data, bool needTrain, int? limitTrain, int? limitTest)
    {
        ArgumentException.ThrowIfNullOrEmpty(data);
        switch (data.ToLowerInvariant())
        {
            case "fashion-mnist" or "fashion_mnist" or "fashionmnist":
                return FromDirectory(FashionMnist.DefaultDirectory, "fashion-mnist", FashionMnist.ClassNames, needTrain, limitTrain, limitTest, FashionMean, FashionStd,
                    "install the dataset-fashion-mnist package or pass --data <folder with the IDX files>");
            case "mnist":
                return FromDirectory(MnistDirectory, "mnist", Mnist.ClassNames, needTrain, limitTrain, limitTest, MnistMean, MnistStd,
                    "pass --data <folder with the MNIST IDX files>");
            case "shapes":
            {
                // Fixed data seeds (not the training seed): every run sees the same images.
                var train = needTrain ? Shapes.Generate(limitTrain ?? ShapesTrain, seed: 1) : null;
                var test = Shapes.Generate(limitTest ?? ShapesTest, seed: 2);
                var (m, s) = Statistics(train ?? test);
                return new DataChoice("shapes", train, test, Shapes.ClassNames, m, s);
            }
            default:
                if (!Directory.Exists(data))
                    throw new UsageException($"--data '{data}' is neither fashion-mnist, mnist, shapes nor an existing folder");
                // A folder named like a known set (./build.sh passes /usr/share/datasets/fashion-mnist) gets its class names and statistics.
                string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(data)));
                return folder.ToLowerInvariant() switch
                {
                    "fashion-mnist" or "fashion_mnist" or "fashionmnist" =>
                        FromDirectory(data, "fashion-mnist", FashionMnist.ClassNames, needTrain, limitTrain, limitTest, FashionMean, FashionStd, null),
                    "mnist" => FromDirectory(data, "mnist", Mnist.ClassNames, needTrain, limitTrain, limitTest, MnistMean, MnistStd, null),
                    _ => FromDirectory(data, folder, null, needTrain, limitTrain, limitTest, null, null, null),
                };
        }
    }

    private static DataChoice FromDirectory(string dir, string name, IReadOnlyList<string>? classNames, bool needTrain, int? limitTrain, int? limitTest,
                                            float? mean, float? std, string? hint)
    {
        if (!Directory.Exists(dir))
            throw new UsageException($"{name} not found at {dir}" + (hint is null ? "" : $" ({hint})"));
        // A folder of unknown IDX files: read with 256 possible labels, then keep as many classes as the labels use.
        var names = classNames ?? Enumerable.Range(0, 256).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var test = Limit(IdxDatasetLoader.Load(dir, train: false, names, name), limitTest);
        var train = needTrain ? Limit(IdxDatasetLoader.Load(dir, train: true, names, name), limitTrain) : null;
        if (classNames is null)
        {
            int k = Math.Max(MaxLabel(test), train is null ? 0 : MaxLabel(train)) + 1;
            names = names.Take(Math.Max(2, k)).ToArray();
            test = WithClasses(test, names);
            train = train is null ? null : WithClasses(train, names);
        }
        if (mean is null || std is null) (mean, std) = Statistics(train ?? test);
        return new DataChoice(name, train, test, names, mean.Value, std.Value);
    }

    private static int MaxLabel(Dataset d)
    {
        int max = 0;
        foreach (var l in d.Labels) max = Math.Max(max, l);
        return max;
    }

    private static Dataset WithClasses(Dataset d, IReadOnlyList<string> names) =>
        new(d.Images.ToArray(), d.Labels.ToArray(), d.Channels, d.Height, d.Width, names, d.Name);

    private static Dataset Limit(Dataset d, int? limit) =>
        limit is int n && n < d.Count ? d.Subset(Enumerable.Range(0, n).ToArray(), d.Name) : d;

    /// <summary>Mean and standard deviation over every pixel of the set.</summary>
    private static (float Mean, float Std) Statistics(Dataset d)
    {
        double sum = 0, sq = 0;
        var px = d.Images;
        foreach (var v in px) { sum += v; sq += (double)v * v; }
        double mean = px.Length == 0 ? 0 : sum / px.Length;
        double std = px.Length == 0 ? 1 : Math.Sqrt(Math.Max(0, sq / px.Length - mean * mean));
        return ((float)mean, (float)Math.Max(std, 1e-3));
    }

    /// <summary>Resizes (bilinear) and replicates channels so the images fit a model that needs <paramref name="channels"/>x<paramref name="size"/>x<paramref name="size"/>.</summary>
    public static Dataset Adapt(Dataset d, int channels, int size)
    {
        if (d.Channels == channels && d.Height == size && d.Width == size) return d;
        if (d.Channels != channels && d.Channels != 1)
            throw new UsageException($"cannot turn {d.Channels}-channel images into {channels} channels");
        int plane = size * size, src = d.Height * d.Width;
        var images = new float[(long)d.Count * channels * plane];
        Parallel.For(0, d.Count, i =>
        {
            var img = d.Image(i);
            for (int c = 0; c < channels; c++)
            {
                var from = img.Slice((d.Channels == 1 ? 0 : c) * src, src).ToArray();
                var resized = new Imaging.GrayImage(d.Width, d.Height, from).Resize(size, size).Pixels;
                resized.CopyTo(images.AsSpan((int)(((long)i * channels + c) * plane), plane));
            }
        });
        var labels = d.Labels.ToArray();
        return new Dataset(images, labels, channels, size, size, d.ClassNames, d.Name);
    }
}
