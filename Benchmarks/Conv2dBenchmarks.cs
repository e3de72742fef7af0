using BenchmarkDotNet.Attributes;
using ConvEngine.NN;

namespace ConvEngine.Benchmarks;

/// <summary>One convolution shape of the reference set: input (N, Cin, H, W) → Cout channels with a square kernel.</summary>
public sealed record ConvCase(string Name, int N, int Cin, int H, int W, int Cout, int Kernel, int Stride, int Padding) : IHasFlops
{
    /// <summary>Output height.</summary>
    public int OutH => (H + 2 * Padding - Kernel) / Stride + 1;
    /// <summary>Output width.</summary>
    public int OutW => (W + 2 * Padding - Kernel) / Stride + 1;
    /// <summary>Floating-point operations of one forward pass: 2·N·Cout·OH·OW·Cin·K² (a multiply and an add per tap; bias ignored).</summary>
    public double Flops => 2.0 * N * Cout * OutH * OutW * Cin * Kernel * Kernel;
    /// <summary>Floating-point operations of one backward pass: two GEMMs of the forward's size (dW and dcol); col2im/bias ignored.</summary>
    public double BackwardFlops => 2 * Flops;
    /// <summary>Forward or backward operations, by benchmark method name (the GFLOP/s column calls this).</summary>
    public double FlopsFor(string method) => method.StartsWith("Backward", StringComparison.Ordinal) ? BackwardFlops : Flops;
    /// <summary>The name BenchmarkDotNet shows in the Case column.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// Conv2d forward and backward on the reference shapes (LeNet-5, ResNet-18 stages, a VGG block). Data are seeded; the layer,
/// its input, one forward (so backward has a cache) and the upstream gradient are prepared in <see cref="Setup"/>, so the
/// measured methods contain only the layer's work. Backward accumulates into the weight gradient on every call, as training would.
/// </summary>
[MemoryDiagnoser]
public class Conv2dBenchmarks
{
    private Conv2d _conv = null!;
    private Tensor _x = null!, _dY = null!;

    /// <summary>
    /// The reference shapes: name, N, Cin, H, W → Cout, kernel, stride, padding. CONVENGINE_BENCH_CASES (comma-separated
    /// names, e.g. "lenet_c1,lenet_c2") keeps only those.
    /// </summary>
    public static IEnumerable<ConvCase> Cases() =>
        Environment.GetEnvironmentVariable("CONVENGINE_BENCH_CASES") is { Length: > 0 } only
            ? AllCases().Where(c => only.Split(',', StringSplitOptions.TrimEntries).Contains(c.Name))
            : AllCases();

    private static IEnumerable<ConvCase> AllCases() =>
    [
        new("lenet_c1", 64, 1, 28, 28, 6, 5, 1, 2),
        new("lenet_c2", 64, 6, 14, 14, 16, 5, 1, 0),
        new("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
        new("resnet_l1", 8, 64, 56, 56, 64, 3, 1, 1),
        new("resnet_l2", 8, 128, 28, 28, 128, 3, 1, 1),
        new("resnet_l3", 8, 256, 14, 14, 256, 3, 1, 1),
        new("resnet_l4", 8, 512, 7, 7, 512, 3, 1, 1),
        new("resnet_down", 8, 64, 56, 56, 128, 1, 2, 0),
        new("vgg_l1", 4, 64, 112, 112, 128, 3, 1, 1),
    ];

    /// <summary>The shape being measured.</summary>
    [ParamsSource(nameof(Cases))]
    public ConvCase Case { get; set; } = null!;

    /// <summary>Thread counts: CONVENGINE_BENCH_THREADS (comma-separated, e.g. "1,2" for the scaling table), default all cores.</summary>
    public static IEnumerable<int> ThreadCounts() =>
        (Environment.GetEnvironmentVariable("CONVENGINE_BENCH_THREADS") ?? Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse);

    /// <summary>Threads of the CPU device.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Forward floating-point operations of the current case (for a GFLOP/s column); backward does twice as many.</summary>
    public double Flops => Case.Flops;

    /// <summary>Builds the layer and seeded data, and runs one forward so that backward has its cache.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var c = Case;
        var device = new CpuDevice(Threads);
        _conv = new Conv2d(c.Cin, c.Cout, c.Kernel, c.Stride, c.Padding, device: device, seed: 42);
        _conv.ReuseBuffers(); // as in training: y and dX are written into the layer's buffers, not fresh memory
        var rng = new Random(7);
        _x = Tensor.FromArray(device, Random(rng, c.N * c.Cin * c.H * c.W), c.N, c.Cin, c.H, c.W);
        var y = _conv.Forward(_x);
        _dY = Tensor.FromArray(device, Random(rng, y.Length), y.Shape);
        _conv.Backward(_dY); // touches the backward scratch once, outside the measurement
    }

    private static float[] Random(Random rng, int length)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>One forward pass (batched im2col + one GEMM per chunk of images, swap into NCHW, bias).</summary>
    [Benchmark]
    public Tensor Forward() => _conv.Forward(_x);

    /// <summary>One backward pass (dW, dB, and dX through col2im) using the cache of the setup's forward.</summary>
    [Benchmark]
    public Tensor Backward() => _conv.Backward(_dY);
}
