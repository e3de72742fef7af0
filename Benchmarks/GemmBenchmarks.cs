// GEMM benchmarks: the blocked SIMD GEMM of CpuDevice on square and convolution-like shapes, plus the bare register
// micro-kernel on packed panels. Data is seeded; all buffers are allocated in [GlobalSetup].
//
// Disassembly: both classes use DisasmConfig, which adds BenchmarkDotNet's DisassemblyDiagnoser when the environment
// variable CONVENGINE_DISASM=1 is set. BenchmarkDotNet 0.14 (the newest on the package mirror) rejects the diagnoser on
// .NET 10 ("DisassemblyDiagnoser supports only .NET Core 3.0+") and then skips the benchmark, so it is opt-in until the
// package is upgraded. The runtime's own JIT listing works today and is what docs/kernels.md describes:
//   DOTNET_JitDisasm='Avx512Kernel:Run' DOTNET_JitStdOutFile=/tmp/k.txt dotnet run -c Release --project Benchmarks -- --filter '*MicroKernel*' --job dry
// Look for the loop with 16 vfmadd231ps on zmm accumulators, 2 B loads and 8 vbroadcastss, and no stack traffic.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using ConvEngine.Kernels.Gemm;

namespace ConvEngine.Benchmarks;

/// <summary>A GEMM problem size (Label says where it comes from); C (M x N) = A (M x K) · B (K x N) costs 2·M·N·K flops.</summary>
public sealed record GemmShape(int M, int N, int K, string Label) : IHasFlops
{
    public double Flops => 2.0 * M * N * K;
    // Short on purpose: BenchmarkDotNet truncates parameter values longer than 20 characters.
    public override string ToString() => $"{M}x{N}x{K}";
}

/// <summary>Adds the DisassemblyDiagnoser when CONVENGINE_DISASM=1 (see the file header for why it is opt-in).</summary>
public sealed class DisasmConfig : ManualConfig
{
    public DisasmConfig()
    {
        if (Environment.GetEnvironmentVariable("CONVENGINE_DISASM") == "1")
            AddDiagnoser(new DisassemblyDiagnoser(new DisassemblyDiagnoserConfig(maxDepth: 3, printSource: true, exportGithubMarkdown: true)));
    }
}

[MemoryDiagnoser]
[Config(typeof(DisasmConfig))]
public class GemmBenchmarks
{
    public static IEnumerable<GemmShape> Shapes() => new[]
    {
        new GemmShape(256, 256, 256, "square"),
        new GemmShape(512, 512, 512, "square"),
        new GemmShape(1024, 1024, 1024, "square"),
        new GemmShape(64, 3136, 576, "conv3x3-56"),    // 64 filters over a 56x56 map, 64 input channels, 3x3
        new GemmShape(128, 784, 1152, "conv3x3-28"),   // 128 filters over 28x28, 128 input channels, 3x3
        new GemmShape(6, 784 * 64, 25, "lenet-conv1"), // 6 filters 5x5 over 28x28, batch 64 folded into N
    };

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = new(256, 256, 256, "square");

    /// <summary>Worker threads (0 = all cores).</summary>
    [Params(0)]
    public int Threads { get; set; }

    private CpuDevice _device = CpuDevice.Default;
    private Tensor _a = null!, _b = null!, _c = null!;

    [GlobalSetup]
    public void Setup()
    {
        _device = new CpuDevice(Threads);
        var rng = new Random(1234);
        _a = Random(rng, Shape.M * Shape.K);
        _b = Random(rng, Shape.K * Shape.N);
        _c = Tensor.Zeros(_device, Shape.M * Shape.N);
        Gemm(); // warm the packing buffers of this thread
    }

    private Tensor Random(Random rng, int n)
    {
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return Tensor.FromArray(_device, data, n);
    }

    /// <summary>C = A·B (A stored M x K, B stored K x N): convolution forward.</summary>
    [Benchmark]
    public void Gemm() =>
        _device.Gemm(false, false, Shape.M, Shape.N, Shape.K, 1f, _a, 0, Shape.K, _b, 0, Shape.N, 0f, _c, 0, Shape.N);

    /// <summary>C = A·Bᵀ (B stored N x K): the weight-gradient product dW = dY·colᵀ.</summary>
    [Benchmark]
    public void GemmNT() =>
        _device.Gemm(false, true, Shape.M, Shape.N, Shape.K, 1f, _a, 0, Shape.K, _b, 0, Shape.K, 0f, _c, 0, Shape.N);

    /// <summary>C = Aᵀ·B (A stored K x M): the input-gradient product dCol = Wᵀ·dY.</summary>
    [Benchmark]
    public void GemmTN() =>
        _device.Gemm(true, false, Shape.M, Shape.N, Shape.K, 1f, _a, 0, Shape.M, _b, 0, Shape.N, 0f, _c, 0, Shape.N);
}

/// <summary>
/// The selected micro-kernel alone on one packed KC-deep A panel and B panel, many tiles per invocation: the single-core
/// ceiling the blocked GEMM can approach. Run with <c>--filter *MicroKernel* --job dry</c> to see its disassembly.
/// </summary>
[Config(typeof(DisasmConfig))]
public unsafe class MicroKernelBenchmarks
{
    private const int Tiles = 64;
    private float[] _a = null!, _b = null!, _c = null!;
    private int _mr, _nr;

    /// <summary>The flop count rides on a parameter so the GFLOP/s column applies (one value only).</summary>
    public static IEnumerable<GemmShape> Shapes()
    {
        var (mr, nr) = Dims();
        return new[] { new GemmShape(mr * Tiles, nr, BlockedGemm.KC, "ukernel") };
    }

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    private static (int MR, int NR) Dims() => BlockedGemm.Kind switch
    {
        GemmKernelKind.Avx512 => (Avx512Kernel.MR, Avx512Kernel.NR),
        GemmKernelKind.Avx2 => (Avx2Kernel.MR, Avx2Kernel.NR),
        _ => (VectorKernel.MR, VectorKernel.NR),
    };

    [GlobalSetup]
    public void Setup()
    {
        (_mr, _nr) = Dims();
        var rng = new Random(7);
        _a = GC.AllocateArray<float>(_mr * BlockedGemm.KC * Tiles, pinned: true);
        _b = GC.AllocateArray<float>(_nr * BlockedGemm.KC, pinned: true);
        _c = GC.AllocateArray<float>(_mr * _nr * Tiles, pinned: true);
        for (int i = 0; i < _a.Length; i++) _a[i] = (float)rng.NextDouble();
        for (int i = 0; i < _b.Length; i++) _b[i] = (float)rng.NextDouble();
    }

    [Benchmark]
    public void MicroKernel()
    {
        fixed (float* a = _a, b = _b, c = _c)
        {
            for (int t = 0; t < Tiles; t++)
            {
                float* at = a + t * _mr * BlockedGemm.KC, ct = c + t * _mr * _nr;
                switch (BlockedGemm.Kind)
                {
                    case GemmKernelKind.Avx512: Avx512Kernel.Run(BlockedGemm.KC, at, b, _nr, ct, _nr, 1f, 0f, _mr, _nr); break;
                    case GemmKernelKind.Avx2: Avx2Kernel.Run(BlockedGemm.KC, at, b, _nr, ct, _nr, 1f, 0f, _mr, _nr); break;
                    default: VectorKernel.Run(BlockedGemm.KC, at, b, _nr, ct, _nr, 1f, 0f, _mr, _nr); break;
                }
            }
        }
    }
}
