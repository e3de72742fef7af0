// GPU backend benchmarks: GEMM 512³ and Conv2d forward/backward on two shapes, on OpenCL device 0 (CONVENGINE_BENCH_DEVICE
// overrides: opencl:N, cuda, cuda:N, cpu). Each measured method waits for the device (Synchronize) so the time covers the
// kernels, not just their enqueueing. On this project's CI machine OpenCL is PoCL on the same CPU cores, so the numbers
// measure a correctness backend; they mean something on a real GPU. Keep runs short:
//   dotnet run -c Release --project Benchmarks -- --filter '*Gpu*' --job dry
using BenchmarkDotNet.Attributes;
using ConvEngine.Gpu;
using ConvEngine.NN;

namespace ConvEngine.Benchmarks;

/// <summary>Opens the benchmark device: OpenCL device 0 unless CONVENGINE_BENCH_DEVICE names another.</summary>
internal static class GpuBench
{
    public static IDevice Open() => ConvEngine.Gpu.Devices.Parse(Environment.GetEnvironmentVariable("CONVENGINE_BENCH_DEVICE") ?? "opencl");

    public static float[] Rand(Random rng, int length)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    public static void Sync(IDevice device)
    {
        if (device is GpuDevice g) g.Synchronize();
    }

    public static void Close(IDevice device)
    {
        if (device is GpuDevice g) g.Dispose();
    }
}

/// <summary>The tiled GEMM kernel on 512³ (C = A·B, beta = 0).</summary>
[MemoryDiagnoser]
public class GpuGemmBenchmarks
{
    private IDevice _device = null!;
    private Tensor _a = null!, _b = null!, _c = null!;

    public static IEnumerable<GemmShape> Shapes() => [new(512, 512, 512, "square")];

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = GpuBench.Open();
        var rng = new Random(3);
        var (m, n, k) = (Shape.M, Shape.N, Shape.K);
        _a = Tensor.FromArray(_device, GpuBench.Rand(rng, m * k), m, k);
        _b = Tensor.FromArray(_device, GpuBench.Rand(rng, k * n), k, n);
        _c = new Tensor(_device, m, n);
        Gemm();
    }

    [GlobalCleanup]
    public void Cleanup() => GpuBench.Close(_device);

    [Benchmark]
    public void Gemm()
    {
        _device.Gemm(false, false, Shape.M, Shape.N, Shape.K, 1f, _a, 0, Shape.K, _b, 0, Shape.N, 0f, _c, 0, Shape.N);
        GpuBench.Sync(_device);
    }
}

/// <summary>Conv2d forward and backward on the device for two shapes: LeNet's second layer and a ResNet stage-2 block.</summary>
[MemoryDiagnoser]
public class GpuConvBenchmarks
{
    private IDevice _device = null!;
    private Conv2d _conv = null!;
    private Tensor _x = null!, _dY = null!;

    public static IEnumerable<ConvCase> Cases() =>
    [
        new("lenet_c2", 64, 6, 14, 14, 16, 5, 1, 0),
        new("resnet_l2", 8, 128, 28, 28, 128, 3, 1, 1),
    ];

    [ParamsSource(nameof(Cases))]
    public ConvCase Case { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = GpuBench.Open();
        var c = Case;
        var rng = new Random(7);
        _conv = new Conv2d(c.Cin, c.Cout, c.Kernel, c.Stride, c.Padding, device: _device, seed: 42);
        _x = Tensor.FromArray(_device, GpuBench.Rand(rng, c.N * c.Cin * c.H * c.W), c.N, c.Cin, c.H, c.W);
        var y = _conv.Forward(_x);
        _dY = Tensor.FromArray(_device, GpuBench.Rand(rng, y.Length), y.Shape);
        _conv.Backward(_dY);
        GpuBench.Sync(_device);
    }

    [GlobalCleanup]
    public void Cleanup() => GpuBench.Close(_device);

    /// <summary>One forward pass (im2col + GEMM per image, bias), waited for.</summary>
    [Benchmark]
    public void Forward()
    {
        _conv.Forward(_x);
        GpuBench.Sync(_device);
    }

    /// <summary>One backward pass (dW, dB, dX through col2im), waited for.</summary>
    [Benchmark]
    public void Backward()
    {
        _conv.Backward(_dY);
        GpuBench.Sync(_device);
    }
}
