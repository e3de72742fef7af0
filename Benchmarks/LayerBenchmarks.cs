using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using ConvEngine.NN;

namespace ConvEngine.Benchmarks;

/// <summary>Implemented by benchmark parameter values that know how many bytes one invocation must move at the least.</summary>
public interface IHasBytes
{
    /// <summary>Bytes of one invocation of <paramref name="method"/>: one read of each input and one write of each output.</summary>
    double BytesFor(string method);
}

/// <summary>Shows bytes / mean time in GB/s for benchmarks with an <see cref="IHasBytes"/> parameter.</summary>
public sealed class BandwidthColumn() : RateColumn(nameof(BandwidthColumn), "GB/s", 1,
    "Bytes an invocation must move (one read of each input, one write of each output) divided by the mean time, in 1e9/s")
{
    /// <summary>The column, added to every benchmark class by Program.</summary>
    public static readonly BandwidthColumn Instance = new();

    /// <inheritdoc/>
    protected override double? AmountOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IHasBytes>()
            .Select(b => (double?)b.BytesFor(benchmarkCase.Descriptor.WorkloadMethod.Name)).FirstOrDefault();
}

/// <summary>
/// A memory-bound layer on a shape from the reference networks: kind ("maxpool2", "maxpool3" = 3x3 stride 2 padding 1,
/// "batchnorm", "relu") on input (N, C, H, W).
/// </summary>
public sealed record LayerCase(string Name, string Kind, int N, int C, int H, int W) : IHasBytes
{
    private long InputBytes => 4L * N * C * H * W;

    private long OutputBytes => Kind switch
    {
        "maxpool2" => 4L * N * C * (H / 2) * (W / 2),
        "maxpool3" => 4L * N * C * ((H - 1) / 2 + 1) * ((W - 1) / 2 + 1),
        _ => InputBytes,
    };

    /// <summary>Forward: x read, y written. Backward: x (or y) and dY read, dX written.</summary>
    public double BytesFor(string method) =>
        method.StartsWith("Backward", StringComparison.Ordinal) ? 2 * InputBytes + OutputBytes : InputBytes + OutputBytes;

    /// <summary>The name BenchmarkDotNet shows in the Case column.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// Pooling, batch-norm (training mode) and ReLU forward and backward on shapes of LeNet-5, VGG and ResNet-18, reporting
/// GB/s against the least traffic each must make. Seeded data; the layer runs one forward and backward in the setup, so
/// the measured calls reuse their buffers as in training.
/// </summary>
[MemoryDiagnoser]
public class LayerBenchmarks
{
    private Module _layer = null!;
    private Tensor _x = null!, _dY = null!;

    /// <summary>The shapes: LeNet's first pool, a VGG pool, ResNet-18's stem pool, its batch-norm and ReLU at 56x56.</summary>
    public static IEnumerable<LayerCase> Cases() =>
    [
        new("lenet_pool1", "maxpool2", 64, 6, 28, 28),
        new("vgg_pool", "maxpool2", 4, 128, 112, 112),
        new("resnet_pool", "maxpool3", 8, 64, 112, 112),
        new("resnet_bn", "batchnorm", 8, 64, 56, 56),
        new("resnet_relu", "relu", 8, 64, 56, 56),
    ];

    /// <summary>The shape being measured.</summary>
    [ParamsSource(nameof(Cases))]
    public LayerCase Case { get; set; } = null!;

    /// <summary>Threads of the CPU device (CONVENGINE_BENCH_THREADS, as for Conv2dBenchmarks).</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Thread counts, as <see cref="Conv2dBenchmarks.ThreadCounts"/>.</summary>
    public static IEnumerable<int> ThreadCounts() => Conv2dBenchmarks.ThreadCounts();

    /// <summary>Builds the layer and seeded data and runs one forward and backward outside the measurement.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var c = Case;
        var device = new CpuDevice(Threads);
        _layer = c.Kind switch
        {
            "maxpool2" => new MaxPool2d(2),
            "maxpool3" => new MaxPool2d(3, 2, 1),
            "batchnorm" => new BatchNorm2d(c.C, device: device),
            "relu" => new ReLU(),
            _ => throw new ArgumentException($"Unknown layer kind '{c.Kind}'.", nameof(Case)),
        };
        _layer.ReuseBuffers(true);
        var rng = new Random(7);
        _x = Tensor.FromArray(device, Random(rng, c.N * c.C * c.H * c.W), c.N, c.C, c.H, c.W);
        var y = _layer.Forward(_x);
        _dY = Tensor.FromArray(device, Random(rng, y.Length), y.Shape);
        _layer.Backward(_dY);
    }

    private static float[] Random(Random rng, int length)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>One forward pass.</summary>
    [Benchmark]
    public Tensor Forward() => _layer.Forward(_x);

    /// <summary>One backward pass from the setup's forward.</summary>
    [Benchmark]
    public Tensor Backward() => _layer.Backward(_dY);
}
