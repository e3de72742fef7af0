// An in-memory labelled image dataset: images as float32 (count, C, H, W) in [0, 1] (row-major, one host array),
// int labels in [0, NumClasses), and class names. Host-only; batches reach a device through DataLoader.
namespace ConvEngine.Data;

/// <summary>
/// An in-memory image classification dataset: <see cref="Count"/> images of shape (C, H, W) stored row-major as
/// float32 in [0, 1], with integer labels in [0, <see cref="NumClasses"/>) and class names.
/// </summary>
public sealed class Dataset
{
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly string[] _classNames;

    /// <summary>Creates a dataset over the given arrays (taken, not copied), validating every length and label.</summary>
    /// <param name="images">The pixels, (count, C, H, W) row-major; length must be count·C·H·W.</param>
    /// <param name="labels">One label per image, each in [0, classNames.Count).</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="classNames">The class names; their number is <see cref="NumClasses"/>.</param>
    /// <param name="name">A short description such as <c>fashion-mnist/train</c>.</param>
    public Dataset(float[] images, int[] labels, int channels, int height, int width, IReadOnlyList<string> classNames, string name = "dataset")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (classNames.Count < 1)
            throw new ArgumentException("A dataset needs at least one class name.", nameof(classNames));
        long imageSize = (long)channels * height * width;
        if (imageSize > int.MaxValue)
            throw new ArgumentException($"Image size {channels}x{height}x{width} is too large.", nameof(channels));
        if (images.LongLength != labels.LongLength * imageSize)
            throw new ArgumentException($"Expected {labels.Length} images of {channels}x{height}x{width} = {labels.LongLength * imageSize} values but got {images.Length}.", nameof(images));
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"Label {labels[i]} at index {i} is outside [0, {classNames.Count}).", nameof(labels));
        _images = images;
        _labels = labels;
        _classNames = classNames.ToArray();
        Channels = channels;
        Height = height;
        Width = width;
        Name = name;
    }

    /// <summary>A short description such as <c>fashion-mnist/train</c>.</summary>
    public string Name { get; }

    /// <summary>The number of images.</summary>
    public int Count => _labels.Length;

    /// <summary>Channels per image (1 for grayscale).</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Values per image, C·H·W.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>The number of classes (the number of class names).</summary>
    public int NumClasses => _classNames.Length;

    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>All pixels, (count, C, H, W) row-major, read-only.</summary>
    public ReadOnlySpan<float> Images => _images;

    /// <summary>All labels, read-only.</summary>
    public ReadOnlySpan<int> Labels => _labels;

    /// <summary>The pixels of image <paramref name="index"/>, (C, H, W) row-major.</summary>
    /// <param name="index">In [0, <see cref="Count"/>).</param>
    public ReadOnlySpan<float> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        return _images.AsSpan(index * ImageSize, ImageSize);
    }

    /// <summary>The label of image <paramref name="index"/>.</summary>
    /// <param name="index">In [0, <see cref="Count"/>).</param>
    public int Label(int index) => _labels[index];

    /// <summary>The number of images of each class, indexed by label.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (var l in _labels) counts[l]++;
        return counts;
    }

    /// <summary>A new dataset holding copies of the images at <paramref name="indices"/>, in that order.</summary>
    /// <param name="indices">Image indices, each in [0, <see cref="Count"/>); repeats are allowed.</param>
    /// <param name="name">The name of the subset; defaults to this dataset's name.</param>
    public Dataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int size = ImageSize;
        var images = new float[(long)indices.Count * size];
        var labels = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            int j = indices[i];
            if ((uint)j >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Index {j} at position {i} is outside [0, {Count}).");
            _images.AsSpan(j * size, size).CopyTo(images.AsSpan(i * size, size));
            labels[i] = _labels[j];
        }
        return new Dataset(images, labels, Channels, Height, Width, _classNames, name ?? Name);
    }

    /// <summary>
    /// Splits into a training and a test part, stratified by class: from each class a seeded random
    /// round(<paramref name="testFraction"/>·classCount) images go to the test part. Deterministic by <paramref name="seed"/>;
    /// both parts keep the original relative order of their images.
    /// </summary>
    /// <param name="testFraction">In [0, 1].</param>
    /// <param name="seed">The shuffling seed.</param>
    public (Dataset Train, Dataset Test) Split(double testFraction, int seed)
    {
        if (!(testFraction >= 0 && testFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), $"Expected a fraction in [0, 1] but got {testFraction}.");
        var isTest = new bool[Count];
        for (int c = 0; c < NumClasses; c++)
        {
            var members = new List<int>();
            for (int i = 0; i < Count; i++) if (_labels[i] == c) members.Add(i);
            var perm = members.ToArray();
            Shuffle(perm, (ulong)seed, 0x5011_7000UL + (ulong)c);
            int nTest = (int)Math.Round(testFraction * perm.Length, MidpointRounding.AwayFromZero);
            for (int k = 0; k < nTest; k++) isTest[perm[k]] = true;
        }
        var train = new List<int>(); var test = new List<int>();
        for (int i = 0; i < Count; i++) (isTest[i] ? test : train).Add(i);
        return (Subset(train, Name + "/train"), Subset(test, Name + "/test"));
    }

    /// <summary>The whole dataset as one tensor (count, C, H, W) on <paramref name="device"/> (default CPU).</summary>
    /// <param name="device">The destination device.</param>
    public Tensor ImagesTensor(IDevice? device = null) => Tensor.FromArray(device ?? CpuDevice.Default, _images, Count, Channels, Height, Width);

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Count} images {Channels}x{Height}x{Width}, {NumClasses} classes";

    /// <summary>Fisher–Yates shuffle driven by the counter-based <see cref="Rng"/>: a pure function of (seed, stream).</summary>
    internal static void Shuffle(int[] a, ulong seed, ulong stream)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = (int)(Rng.Hash(seed, stream, (ulong)i) % (ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
