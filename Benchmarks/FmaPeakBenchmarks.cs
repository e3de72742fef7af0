// The machine's floating-point peak, measured in process (the performance docs quote percentages of this, not of a spec
// sheet): 12 independent chains of Vector512 (or Vector256) fused multiply-adds per thread, enough to cover the FMA latency
// on two pipes, with no memory traffic. One benchmark runs it on one thread, the other on one thread per core.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace ConvEngine.Benchmarks;

/// <summary>The flop count of one FMA-probe invocation on a given number of threads.</summary>
public sealed record FmaCase(int Threads) : IHasFlops
{
    /// <summary>Iterations of the 12-chain loop per thread.</summary>
    public const long Iterations = 20_000_000;

    /// <summary>Lanes per vector: 16 with AVX-512, 8 with AVX2 (FMA3).</summary>
    public static int Lanes => Avx512F.IsSupported ? 16 : 8;

    /// <summary>2 flops per lane per FMA, 12 FMAs per iteration, on every thread.</summary>
    public double Flops => 2.0 * Lanes * 12 * Iterations * Threads;

    /// <summary>Shown in the table.</summary>
    public override string ToString() => $"{Threads} thread{(Threads == 1 ? "" : "s")}";
}

/// <summary>In-process FMA peak: GFLOP/s on one thread and on one thread per core.</summary>
public class FmaPeakBenchmarks
{
    /// <summary>One thread, and as many threads as cores.</summary>
    public static IEnumerable<FmaCase> Cases() => Environment.ProcessorCount == 1 ? [new(1)] : [new(1), new(Environment.ProcessorCount)];

    /// <summary>The thread count measured.</summary>
    [ParamsSource(nameof(Cases))]
    public FmaCase Case { get; set; } = null!;

    /// <summary>Runs the probe on <see cref="FmaCase.Threads"/> threads and returns a value depending on every chain.</summary>
    [Benchmark]
    public float Probe()
    {
        if (Case.Threads == 1) return Run(FmaCase.Iterations);
        var results = new float[Case.Threads];
        var threads = Enumerable.Range(1, Case.Threads - 1).Select(i => new Thread(() => results[i] = Run(FmaCase.Iterations))).ToList();
        threads.ForEach(t => t.Start());
        results[0] = Run(FmaCase.Iterations);
        threads.ForEach(t => t.Join());
        return results.Sum();
    }

    private static float Run(long iterations)
    {
        if (Avx512F.IsSupported) return Run512(iterations);
        if (Fma.IsSupported) return Run256(iterations);
        throw new PlatformNotSupportedException("The FMA probe needs AVX-512F or FMA3.");
    }

    private static float Run512(long iterations)
    {
        var a0 = Vector512.Create(1f); Vector512<float> a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        var m = Vector512.Create(0.999999f); var c = Vector512.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c); a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static float Run256(long iterations)
    {
        var a0 = Vector256.Create(1f); Vector256<float> a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        var m = Vector256.Create(0.999999f); var c = Vector256.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c);
            a3 = Fma.MultiplyAdd(a3, m, c); a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c);
            a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c); a8 = Fma.MultiplyAdd(a8, m, c);
            a9 = Fma.MultiplyAdd(a9, m, c); a10 = Fma.MultiplyAdd(a10, m, c); a11 = Fma.MultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
