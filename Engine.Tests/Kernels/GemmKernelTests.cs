using System.Runtime.Intrinsics;
using ConvEngine.Kernels.Gemm;
using ConvEngine.Reference;
using NUnit.Framework;

namespace ConvEngine.Tests.Kernels;

/// <summary>
/// The blocked SIMD GEMM against NaiveBlas.Gemm: all four transpose combinations, odd sizes and sizes that cross the
/// MR/NR/MC/KC/NC block edges, leading dimensions wider than the matrix, non-zero offsets, alpha/beta (beta = 0 with a
/// NaN-filled C), every micro-kernel this processor can run, and determinism across runs and thread counts.
/// Error bound per element: 1e-4 relative to |alpha|·Σ|a·b| + |beta·c| (the scale of the terms summed).
/// </summary>
[Category("Simd")]
public class GemmKernelTests
{
    public record struct Case(bool TransA, bool TransB, int M, int N, int K, float Alpha, float Beta, int PadA, int PadB, int PadC, int OffA, int OffB, int OffC)
    {
        public override readonly string ToString() =>
            $"{(TransA ? "T" : "N")}{(TransB ? "T" : "N")} m={M} n={N} k={K} alpha={Alpha} beta={Beta} pad=({PadA},{PadB},{PadC}) off=({OffA},{OffB},{OffC})";
    }

    private static readonly int[] Odd = { 1, 7, 13, 31, 33, 65, 127, 257 };

    /// <summary>Hand-picked edge cases plus seeded random shapes (≥ 30 in all, every transpose combination).</summary>
    internal static IEnumerable<Case> Cases()
    {
        var rng = new Random(12345);
        var list = new List<Case>
        {
            new(false, false, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
            new(false, false, 8, 32, 256, 1, 0, 0, 0, 0, 0, 0, 0),      // exactly one AVX-512 tile, one K block
            new(true, true, 9, 33, 257, 1, 0, 3, 1, 2, 5, 7, 11),        // one past MR, NR, KC
            new(false, true, 6, 16, 255, 0.5f, 1, 0, 0, 0, 0, 0, 0),     // exactly one AVX2 tile
            new(true, false, 129, 65, 513, 1, 0.5f, 2, 0, 4, 0, 3, 0),   // crosses MC and two KC blocks
            new(false, false, 7, 4100, 13, 1, 0, 0, 5, 0, 1, 0, 2),      // crosses NC
            new(false, false, 6, 3000, 25, 1, 0, 0, 0, 0, 0, 0, 0),      // conv-like M=6, K=25
            new(false, false, 64, 196, 576, 1, 0, 0, 0, 0, 0, 0, 0),     // conv-like
            new(true, false, 2100, 17, 31, 1, 0, 0, 0, 0, 0, 0, 0),      // many M blocks, narrow N
            new(false, false, 32, 700, 288, 1, 0, 0, 0, 0, 0, 0, 0),     // K = 288: one K block of 288 (KStep)
            new(false, true, 32, 70, 321, 1, 0.5f, 0, 0, 0, 0, 0, 0),    // K = 321: one block up to 5/4·KC
            new(true, false, 40, 90, 1001, 1, 1, 0, 0, 0, 0, 0, 0),      // K = 1001: four equal blocks of 251, beta = 1
            new(false, true, 33, 290, 4704, 1, 1, 0, 0, 0, 0, 0, 0),     // conv dW shape: long K, accumulate
            new(false, false, 3, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0),          // k = 0, beta = 0: C becomes 0
            new(true, true, 5, 3, 0, 1, 2, 0, 0, 1, 0, 0, 0),            // k = 0: C = beta·C
            new(false, false, 10, 11, 12, 0, 0.5f, 0, 0, 0, 0, 0, 0),    // alpha = 0
            new(false, false, 520, 390, 300, 1, 0.5f, 1, 2, 3, 4, 5, 6), // cost-model tiling: several M blocks per item
            new(true, true, 700, 97, 333, 1, 0, 0, 3, 0, 0, 0, 0),       // cost-model tiling, transposed, edge panels
        };
        // Tiny problems take the direct loop (no packing): every transpose combination, padded and offset.
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                list.Add(new(ta, tb, 3, 5, 7, 1.25f, ta ? 0f : -0.5f, 2, 3, 1, 4, 5, 6));
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                for (int r = 0; r < 9; r++)
                {
                    int Pick() => rng.Next(3) == 0 ? rng.Next(1, 300) : Odd[rng.Next(Odd.Length)];
                    float beta = (r % 3) switch { 0 => 0f, 1 => 1f, _ => -0.5f };
                    list.Add(new(ta, tb, Pick(), Pick(), Pick(), r % 2 == 0 ? 1f : 1.5f, beta,
                        rng.Next(3) == 0 ? 0 : rng.Next(1, 9), rng.Next(3) == 0 ? 0 : rng.Next(1, 9), rng.Next(3) == 0 ? 0 : rng.Next(1, 9),
                        rng.Next(0, 20), rng.Next(0, 20), rng.Next(0, 20)));
                }
        return list;
    }

    private sealed class Problem
    {
        public required Case Case;
        public required float[] A, B, C0;
        public int Lda, Ldb, Ldc;
    }

    private static Problem Make(Case cs, int seed)
    {
        var rng = new Random(seed);
        int rowsA = cs.TransA ? cs.K : cs.M, colsA = cs.TransA ? cs.M : cs.K;
        int rowsB = cs.TransB ? cs.N : cs.K, colsB = cs.TransB ? cs.K : cs.N;
        int lda = Math.Max(1, colsA + cs.PadA), ldb = Math.Max(1, colsB + cs.PadB), ldc = cs.N + cs.PadC;
        var a = TestUtil.RandomArray(rng, cs.OffA + rowsA * lda);
        var b = TestUtil.RandomArray(rng, cs.OffB + rowsB * ldb);
        var c = cs.Beta == 0 ? Enumerable.Repeat(float.NaN, cs.OffC + cs.M * ldc).ToArray() : TestUtil.RandomArray(rng, cs.OffC + cs.M * ldc);
        return new Problem { Case = cs, A = a, B = b, C0 = c, Lda = lda, Ldb = ldb, Ldc = ldc };
    }

    private static float[] RunDevice(IDevice dev, Problem p)
    {
        var cs = p.Case;
        var c = Tensor.FromArray(dev, (float[])p.C0.Clone(), p.C0.Length);
        dev.Gemm(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, cs.Alpha, Tensor.FromArray(dev, p.A, p.A.Length), cs.OffA, p.Lda,
                 Tensor.FromArray(dev, p.B, p.B.Length), cs.OffB, p.Ldb, cs.Beta, c, cs.OffC, p.Ldc);
        return c.ToArray();
    }

    /// <summary>Compares with NaiveBlas; cells outside the C matrix (offset, padding columns) must be untouched.</summary>
    private static void Check(Problem p, float[] actual, string what)
    {
        var cs = p.Case;
        var expected = (float[])p.C0.Clone();
        NaiveBlas.Gemm(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, cs.Alpha, p.A.AsSpan(cs.OffA), p.Lda, p.B.AsSpan(cs.OffB), p.Ldb, cs.Beta, expected.AsSpan(cs.OffC), p.Ldc);
        // scale[i,j] = |alpha|·Σ|a·b| + |beta·c|: the same GEMM on absolute values.
        var absA = p.A.Select(Math.Abs).ToArray(); var absB = p.B.Select(Math.Abs).ToArray();
        var scale = p.C0.Select(v => float.IsNaN(v) ? 0f : Math.Abs(v)).ToArray();
        NaiveBlas.Gemm(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, Math.Abs(cs.Alpha), absA.AsSpan(cs.OffA), p.Lda, absB.AsSpan(cs.OffB), p.Ldb, Math.Abs(cs.Beta), scale.AsSpan(cs.OffC), p.Ldc);
        for (int idx = 0; idx < actual.Length; idx++)
        {
            int rel = idx - cs.OffC;
            bool inside = rel >= 0 && rel / p.Ldc < cs.M && rel % p.Ldc < cs.N;
            if (!inside)
            {
                Assert.That(BitConverter.SingleToInt32Bits(actual[idx]), Is.EqualTo(BitConverter.SingleToInt32Bits(p.C0[idx])), $"{what}: element {idx} outside C was modified");
                continue;
            }
            float e = expected[idx], a = actual[idx];
            if (float.IsNaN(a) || Math.Abs(a - e) > 1e-4 * scale[idx] + 1e-30)
                Assert.Fail($"{what}: C[{rel / p.Ldc},{rel % p.Ldc}] = {a:G9}, expected {e:G9} (scale {scale[idx]:G6})");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesNaiveBlas(Case cs)
    {
        var p = Make(cs, cs.GetHashCode());
        Check(p, RunDevice(new CpuDevice(2), p), cs.ToString());
    }

    [Test]
    public void EnoughCasesCoverAllTransposes()
    {
        var cases = Cases().ToList();
        Assert.That(cases.Count, Is.GreaterThanOrEqualTo(30));
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                Assert.That(cases.Count(c => c.TransA == ta && c.TransB == tb), Is.GreaterThanOrEqualTo(5), $"transA={ta} transB={tb}");
    }

    /// <summary>Every micro-kernel the processor supports (not only the one selected at start-up) on shapes with edges.</summary>
    [Test]
    public void EveryAvailableMicroKernelMatchesNaive()
    {
        var shapes = new[]
        {
            new Case(false, false, 37, 70, 300, 1, 0, 1, 2, 3, 1, 2, 3),
            new Case(true, true, 13, 33, 65, -2, 0.5f, 0, 0, 0, 0, 0, 0),
            new Case(false, true, 129, 31, 257, 1, 1, 4, 0, 0, 0, 0, 0),
            new Case(true, false, 8, 4097, 7, 1, 0, 0, 0, 0, 5, 5, 5),
        };
        var dev = new CpuDevice(2);
        int ran = 0;
        foreach (var cs in shapes)
        {
            var p = Make(cs, 7);
            if (Avx512Kernel.IsSupported) { Check(p, RunKernel<Avx512Kernel>(dev, p), "Avx512 " + cs); ran++; }
            if (Avx2Kernel.IsSupported) { Check(p, RunKernel<Avx2Kernel>(dev, p), "Avx2 " + cs); ran++; }
            Check(p, RunKernel<VectorKernel>(dev, p), "Portable " + cs); ran++;
        }
        TestContext.Out.WriteLine($"Selected kernel: {BlockedGemm.Describe()}; Vector512 accelerated: {Vector512.IsHardwareAccelerated}; kernel runs: {ran}");
        Assert.That(ran, Is.GreaterThanOrEqualTo(shapes.Length));
    }

    private static float[] RunKernel<TK>(CpuDevice dev, Problem p) where TK : IMicroKernel
    {
        var cs = p.Case;
        var c = (float[])p.C0.Clone();
        BlockedGemm.Run<TK>(dev, cs.TransA, cs.TransB, cs.M, cs.N, cs.K, cs.Alpha, p.A, cs.OffA, p.Lda, p.B, cs.OffB, p.Ldb, cs.Beta, c, cs.OffC, p.Ldc);
        return c;
    }

    [Test]
    public void DeterministicAcrossRunsAndThreadCounts()
    {
        var cs = new Case(false, true, 300, 517, 600, 1, 0.25f, 0, 0, 0, 0, 0, 0);
        var p = Make(cs, 99);
        var two = new CpuDevice(2);
        var r1 = RunDevice(two, p);
        var r2 = RunDevice(two, p);
        Assert.That(r2, Is.EqualTo(r1), "two runs with 2 threads are bitwise identical");
        var single = RunDevice(new CpuDevice(1), p);
        TestUtil.AssertClose(single, r1, 1e-5, 1e-5, "1 thread vs 2 threads");
        Check(p, r1, cs.ToString());
    }

    /// <summary>
    /// Large GEMMs with few B columns and several M blocks (resnet_l4's 512 x 392 x 4608) let one item cover several M
    /// blocks, so its B chunk is packed once for all of them; small GEMMs keep one M block per item. Every tiling covers
    /// all of C exactly once (MatchesNaiveBlas runs both kinds).
    /// </summary>
    [Test]
    public void TilingPacksBOnceForSeveralMBlocksOnLargeGemms()
    {
        int Blocks(int m) => (m + BlockedGemm.MC - 1) / BlockedGemm.MC;
        var (mbPer, perChunk) = BlockedGemm.Tiling(512, 392, 4608, Blocks(512), 13, 8, 32, 4096, 2, false, 3);
        Assert.That(mbPer, Is.GreaterThan(1), "resnet_l4 forward");
        Assert.That(perChunk, Is.InRange(1, 13));
        (mbPer, _) = BlockedGemm.Tiling(256, 40, 30, Blocks(256), 2, 8, 32, 4096, 2, false, 1);
        Assert.That(mbPer, Is.EqualTo(1), "small GEMM keeps the simple tiling");
    }

    [Test]
    public void BadArgumentsNameTheArgument()
    {
        var dev = new CpuDevice(1);
        Tensor a = Tensor.Zeros(dev, 12), b = Tensor.Zeros(dev, 12), c = Tensor.Zeros(dev, 9);
        var ex = Assert.Throws<ArgumentException>(() => dev.Gemm(false, false, 3, 3, 4, 1, a, 0, 4, b, 0, 3, 0, c, 1, 3));
        Assert.That(ex!.ParamName, Is.EqualTo("c"));
        Assert.That(ex.Message, Does.Contain("10").And.Contain("9"));
        ex = Assert.Throws<ArgumentException>(() => dev.Gemm(false, false, 3, 3, 4, 1, a, 0, 3, b, 0, 3, 0, c, 0, 3));
        Assert.That(ex!.ParamName, Is.EqualTo("lda"));
        ex = Assert.Throws<ArgumentException>(() => dev.Gemm(true, false, 3, 3, 5, 1, a, 0, 3, b, 0, 3, 0, c, 0, 3));
        Assert.That(ex!.ParamName, Is.EqualTo("a"));
        ex = Assert.Throws<ArgumentException>(() => dev.Gemm(false, true, 3, 3, 4, 1, a, 0, 4, b, 1, 4, 0, c, 0, 3));
        Assert.That(ex!.ParamName, Is.EqualTo("b"));
        ex = Assert.Throws<ArgumentException>(() => dev.Gemm(false, false, -1, 3, 4, 1, a, 0, 4, b, 0, 3, 0, c, 0, 3));
        Assert.That(ex!.ParamName, Is.EqualTo("m"));
    }
}
