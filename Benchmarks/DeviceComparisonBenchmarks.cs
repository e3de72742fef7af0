// CPU against a GPU backend on the same work, by batch size: GEMM on square sizes and Conv2d forward/backward on two
// reference shapes at batch 1, 8 and 32. Each measured method waits for the device. The second device is OpenCL device 0
// unless CONVENGINE_BENCH_DEVICE names another (opencl:N, cuda, cuda:N). On the project's machine OpenCL is PoCL compiling
// the kernels for the same two CPU cores, so that column measures a correctness backend; the table in docs/gpu.md says so.
// Run:
//   dotnet run -c Release --project Benchmarks -- --filter '*DeviceGemm*' '*DeviceConv*' --job short
//   CONVENGINE_BENCH_DEVICE=cuda dotnet run -c Release --project Benchmarks -- --filter '*Device*' --job short   # on a GPU machine
using BenchmarkDotNet.Attributes;
using ConvEngine.Gpu;
using ConvEngine.NN;

namespace ConvEngine.Benchmarks;

/// <summary>Device helpers shared by the device benchmarks.</summary>
internal static class GpuBench
{
    /// <summary>"cpu" and the GPU device under test (CONVENGINE_BENCH_DEVICE, default "opencl").</summary>
    public static IEnumerable<string> Devices() => ["cpu", Environment.GetEnvironmentVariable("CONVENGINE_BENCH_DEVICE") ?? "opencl"];

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

/// <summary>GEMM (n³) on each device.</summary>
public class DeviceGemmBenchmarks
{
    private IDevice _device = null!;
    private Tensor _a = null!, _b = null!, _c = null!;

    /// <summary>cpu, or the GPU device name (accepted by <c>Devices.Parse</c>) from <see cref="GpuBench.Devices"/>.</summary>
    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    /// <summary>The devices compared.</summary>
    public static IEnumerable<string> Devices() => GpuBench.Devices();

    /// <summary>The square sizes.</summary>
    public static IEnumerable<GemmShape> Shapes() => [new(256, 256, 256, "256"), new(512, 512, 512, "512"), new(1024, 1024, 1024, "1024")];

    /// <summary>The size measured.</summary>
    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    /// <summary>Opens the device and uploads seeded matrices.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = ConvEngine.Gpu.Devices.Parse(Device);
        var rng = new Random(3);
        var (m, n, k) = (Shape.M, Shape.N, Shape.K);
        _a = Tensor.FromArray(_device, GpuBench.Rand(rng, m * k), m, k);
        _b = Tensor.FromArray(_device, GpuBench.Rand(rng, k * n), k, n);
        _c = new Tensor(_device, m, n);
        Gemm();
    }

    /// <summary>Releases a GPU device.</summary>
    [GlobalCleanup]
    public void Cleanup() => GpuBench.Close(_device);

    /// <summary>C = A·B, waited for.</summary>
    [Benchmark]
    public void Gemm()
    {
        _device.Gemm(false, false, Shape.M, Shape.N, Shape.K, 1f, _a, 0, Shape.K, _b, 0, Shape.N, 0f, _c, 0, Shape.N);
        GpuBench.Sync(_device);
    }
}

/// <summary>Conv2d forward and backward on each device at batch 1, 8 and 32.</summary>
public class DeviceConvBenchmarks
{
    private IDevice _device = null!;
    private Conv2d _conv = null!;
    private Tensor _x = null!, _dY = null!;

    /// <summary>cpu, or the GPU device name (accepted by <c>Devices.Parse</c>) from <see cref="GpuBench.Devices"/>.</summary>
    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    /// <summary>The devices compared.</summary>
    public static IEnumerable<string> Devices() => GpuBench.Devices();

    /// <summary>Two reference shapes at batch 1, 8 and 32 (the batch is part of the case name).</summary>
    public static IEnumerable<ConvCase> Cases() =>
        new[] { 1, 8, 32 }.SelectMany(n => new ConvCase[]
        {
            new($"lenet_c2 n{n}", n, 6, 14, 14, 16, 5, 1, 0),
            new($"resnet_l3 n{n}", n, 256, 14, 14, 256, 3, 1, 1),
        });

    /// <summary>The shape and batch measured.</summary>
    [ParamsSource(nameof(Cases))]
    public ConvCase Case { get; set; } = null!;

    /// <summary>Builds the layer with reused buffers and seeded data, and runs one forward and backward.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = ConvEngine.Gpu.Devices.Parse(Device);
        var c = Case;
        var rng = new Random(7);
        _conv = new Conv2d(c.Cin, c.Cout, c.Kernel, c.Stride, c.Padding, device: _device, seed: 42);
        _conv.ReuseBuffers();
        _x = Tensor.FromArray(_device, GpuBench.Rand(rng, c.N * c.Cin * c.H * c.W), c.N, c.Cin, c.H, c.W);
        var y = _conv.Forward(_x);
        _dY = Tensor.FromArray(_device, GpuBench.Rand(rng, y.Length), y.Shape);
        _conv.Backward(_dY);
        GpuBench.Sync(_device);
    }

    /// <summary>Releases a GPU device.</summary>
    [GlobalCleanup]
    public void Cleanup() => GpuBench.Close(_device);

    /// <summary>One forward pass, waited for.</summary>
    [Benchmark]
    public void Forward()
    {
        _conv.Forward(_x);
        GpuBench.Sync(_device);
    }

    /// <summary>One backward pass, waited for.</summary>
    [Benchmark]
    public void Backward()
    {
        _conv.Backward(_dY);
        GpuBench.Sync(_device);
    }
}
