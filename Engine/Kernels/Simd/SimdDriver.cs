// The one shared SIMD driver. Ops (SimdOps.cs) say what to compute per element; the driver says how:
//   width dispatch  Vector512 when Vector512.IsHardwareAccelerated, else Vector256, else Vector<float>, else scalar;
//   unrolling       the main loop handles 4 vectors per iteration (loads first, then stores, so y may be x itself);
//   tails           one narrower Vector256 step (on the 512-bit path) and then scalar elements.
// The Is*HardwareAccelerated checks are JIT-time constants, so each instantiation compiles to one straight path.
// Spans may be identical (in place) or disjoint; partially overlapping spans are not supported.
// Reductions accumulate in double, in a fixed order that depends only on the length and the selected width.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvEngine.Kernels.Simd;

/// <summary>Width dispatch, unrolling and tails for the element-wise operators in <c>SimdOps.cs</c>.</summary>
internal static class SimdDriver
{
    /// <summary>The widest vector width in use on this processor, for documentation and tests ("512", "256", "Vector&lt;T&gt;", "scalar").</summary>
    public static string Width =>
        Vector512.IsHardwareAccelerated ? "Vector512" :
        Vector256.IsHardwareAccelerated ? "Vector256" :
        Vector.IsHardwareAccelerated ? $"Vector<float>({Vector<float>.Count})" : "scalar";

    /// <summary>y[i] = op(x[i]) for i &lt; x.Length.</summary>
    public static void Map<TOp>(ReadOnlySpan<float> x, Span<float> y, TOp op) where TOp : struct, IUnaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException($"Output has {y.Length} elements but input has {x.Length}.", nameof(y));
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            const int W = 16;
            for (; i + 4 * W <= n; i += 4 * W)
            {
                var a0 = Vector512.LoadUnsafe(ref xr, i); var a1 = Vector512.LoadUnsafe(ref xr, i + W);
                var a2 = Vector512.LoadUnsafe(ref xr, i + 2 * W); var a3 = Vector512.LoadUnsafe(ref xr, i + 3 * W);
                op.Invoke(a0).StoreUnsafe(ref yr, i); op.Invoke(a1).StoreUnsafe(ref yr, i + W);
                op.Invoke(a2).StoreUnsafe(ref yr, i + 2 * W); op.Invoke(a3).StoreUnsafe(ref yr, i + 3 * W);
            }
            for (; i + W <= n; i += W) op.Invoke(Vector512.LoadUnsafe(ref xr, i)).StoreUnsafe(ref yr, i);
            if (i + 8 <= n) { op.Invoke(Vector256.LoadUnsafe(ref xr, i)).StoreUnsafe(ref yr, i); i += 8; }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            const int W = 8;
            for (; i + 4 * W <= n; i += 4 * W)
            {
                var a0 = Vector256.LoadUnsafe(ref xr, i); var a1 = Vector256.LoadUnsafe(ref xr, i + W);
                var a2 = Vector256.LoadUnsafe(ref xr, i + 2 * W); var a3 = Vector256.LoadUnsafe(ref xr, i + 3 * W);
                op.Invoke(a0).StoreUnsafe(ref yr, i); op.Invoke(a1).StoreUnsafe(ref yr, i + W);
                op.Invoke(a2).StoreUnsafe(ref yr, i + 2 * W); op.Invoke(a3).StoreUnsafe(ref yr, i + 3 * W);
            }
            for (; i + W <= n; i += W) op.Invoke(Vector256.LoadUnsafe(ref xr, i)).StoreUnsafe(ref yr, i);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            nuint w = (nuint)Vector<float>.Count;
            for (; i + 4 * w <= n; i += 4 * w)
            {
                var a0 = Vector.LoadUnsafe(ref xr, i); var a1 = Vector.LoadUnsafe(ref xr, i + w);
                var a2 = Vector.LoadUnsafe(ref xr, i + 2 * w); var a3 = Vector.LoadUnsafe(ref xr, i + 3 * w);
                op.Invoke(a0).StoreUnsafe(ref yr, i); op.Invoke(a1).StoreUnsafe(ref yr, i + w);
                op.Invoke(a2).StoreUnsafe(ref yr, i + 2 * w); op.Invoke(a3).StoreUnsafe(ref yr, i + 3 * w);
            }
            for (; i + w <= n; i += w) op.Invoke(Vector.LoadUnsafe(ref xr, i)).StoreUnsafe(ref yr, i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = op.Invoke(Unsafe.Add(ref xr, i));
    }

    /// <summary>z[i] = op(x[i], y[i]) for i &lt; x.Length.</summary>
    public static void Map2<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z, TOp op) where TOp : struct, IBinaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException($"Second input has {y.Length} elements but the first has {x.Length}.", nameof(y));
        if (z.Length < x.Length) throw new ArgumentException($"Output has {z.Length} elements but input has {x.Length}.", nameof(z));
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float zr = ref MemoryMarshal.GetReference(z);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            const int W = 16;
            for (; i + 4 * W <= n; i += 4 * W)
            {
                var a0 = Vector512.LoadUnsafe(ref xr, i); var a1 = Vector512.LoadUnsafe(ref xr, i + W);
                var a2 = Vector512.LoadUnsafe(ref xr, i + 2 * W); var a3 = Vector512.LoadUnsafe(ref xr, i + 3 * W);
                var b0 = Vector512.LoadUnsafe(ref yr, i); var b1 = Vector512.LoadUnsafe(ref yr, i + W);
                var b2 = Vector512.LoadUnsafe(ref yr, i + 2 * W); var b3 = Vector512.LoadUnsafe(ref yr, i + 3 * W);
                op.Invoke(a0, b0).StoreUnsafe(ref zr, i); op.Invoke(a1, b1).StoreUnsafe(ref zr, i + W);
                op.Invoke(a2, b2).StoreUnsafe(ref zr, i + 2 * W); op.Invoke(a3, b3).StoreUnsafe(ref zr, i + 3 * W);
            }
            for (; i + W <= n; i += W) op.Invoke(Vector512.LoadUnsafe(ref xr, i), Vector512.LoadUnsafe(ref yr, i)).StoreUnsafe(ref zr, i);
            if (i + 8 <= n) { op.Invoke(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref zr, i); i += 8; }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            const int W = 8;
            for (; i + 4 * W <= n; i += 4 * W)
            {
                var a0 = Vector256.LoadUnsafe(ref xr, i); var a1 = Vector256.LoadUnsafe(ref xr, i + W);
                var a2 = Vector256.LoadUnsafe(ref xr, i + 2 * W); var a3 = Vector256.LoadUnsafe(ref xr, i + 3 * W);
                var b0 = Vector256.LoadUnsafe(ref yr, i); var b1 = Vector256.LoadUnsafe(ref yr, i + W);
                var b2 = Vector256.LoadUnsafe(ref yr, i + 2 * W); var b3 = Vector256.LoadUnsafe(ref yr, i + 3 * W);
                op.Invoke(a0, b0).StoreUnsafe(ref zr, i); op.Invoke(a1, b1).StoreUnsafe(ref zr, i + W);
                op.Invoke(a2, b2).StoreUnsafe(ref zr, i + 2 * W); op.Invoke(a3, b3).StoreUnsafe(ref zr, i + 3 * W);
            }
            for (; i + W <= n; i += W) op.Invoke(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i)).StoreUnsafe(ref zr, i);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            nuint w = (nuint)Vector<float>.Count;
            for (; i + w <= n; i += w) op.Invoke(Vector.LoadUnsafe(ref xr, i), Vector.LoadUnsafe(ref yr, i)).StoreUnsafe(ref zr, i);
        }
        for (; i < n; i++) Unsafe.Add(ref zr, i) = op.Invoke(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i));
    }

    /// <summary>w[i] = op(x[i], y[i], z[i]) for i &lt; x.Length (backward ops: x, y = f(x), dY → dX).</summary>
    public static void Map3<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> w, TOp op) where TOp : struct, ITernaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException($"Second input has {y.Length} elements but the first has {x.Length}.", nameof(y));
        if (z.Length < x.Length) throw new ArgumentException($"Third input has {z.Length} elements but the first has {x.Length}.", nameof(z));
        if (w.Length < x.Length) throw new ArgumentException($"Output has {w.Length} elements but input has {x.Length}.", nameof(w));
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float zr = ref MemoryMarshal.GetReference(z);
        ref float wr = ref MemoryMarshal.GetReference(w);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            const int W = 16;
            for (; i + 2 * W <= n; i += 2 * W)
            {
                var r0 = op.Invoke(Vector512.LoadUnsafe(ref xr, i), Vector512.LoadUnsafe(ref yr, i), Vector512.LoadUnsafe(ref zr, i));
                var r1 = op.Invoke(Vector512.LoadUnsafe(ref xr, i + W), Vector512.LoadUnsafe(ref yr, i + W), Vector512.LoadUnsafe(ref zr, i + W));
                r0.StoreUnsafe(ref wr, i); r1.StoreUnsafe(ref wr, i + W);
            }
            for (; i + W <= n; i += W)
                op.Invoke(Vector512.LoadUnsafe(ref xr, i), Vector512.LoadUnsafe(ref yr, i), Vector512.LoadUnsafe(ref zr, i)).StoreUnsafe(ref wr, i);
            if (i + 8 <= n)
            {
                op.Invoke(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i), Vector256.LoadUnsafe(ref zr, i)).StoreUnsafe(ref wr, i);
                i += 8;
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            const int W = 8;
            for (; i + 2 * W <= n; i += 2 * W)
            {
                var r0 = op.Invoke(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i), Vector256.LoadUnsafe(ref zr, i));
                var r1 = op.Invoke(Vector256.LoadUnsafe(ref xr, i + W), Vector256.LoadUnsafe(ref yr, i + W), Vector256.LoadUnsafe(ref zr, i + W));
                r0.StoreUnsafe(ref wr, i); r1.StoreUnsafe(ref wr, i + W);
            }
            for (; i + W <= n; i += W)
                op.Invoke(Vector256.LoadUnsafe(ref xr, i), Vector256.LoadUnsafe(ref yr, i), Vector256.LoadUnsafe(ref zr, i)).StoreUnsafe(ref wr, i);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            nuint vw = (nuint)Vector<float>.Count;
            for (; i + vw <= n; i += vw)
                op.Invoke(Vector.LoadUnsafe(ref xr, i), Vector.LoadUnsafe(ref yr, i), Vector.LoadUnsafe(ref zr, i)).StoreUnsafe(ref wr, i);
        }
        for (; i < n; i++) Unsafe.Add(ref wr, i) = op.Invoke(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i), Unsafe.Add(ref zr, i));
    }

    /// <summary>Σ op(x[i]) in double: each float is widened to double, two vector accumulators, combined in a fixed order.</summary>
    public static double Reduce<TOp>(ReadOnlySpan<float> x, TOp op) where TOp : struct, IReduceOp
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length, i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<double> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref xr, i));
                s0 += op.Invoke(lo); s1 += op.Invoke(hi);
            }
            total = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, i));
                s0 += op.Invoke(lo); s1 += op.Invoke(hi);
            }
            total = Vector256.Sum(s0 + s1);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            Vector<double> s0 = default, s1 = default;
            nuint w = (nuint)Vector<float>.Count;
            for (; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref xr, i), out var lo, out var hi);
                s0 += op.Invoke(lo); s1 += op.Invoke(hi);
            }
            total = Vector.Sum(s0 + s1);
        }
        for (; i < n; i++) total += op.Invoke(Unsafe.Add(ref xr, i));
        return total;
    }

    /// <summary>Σ a[i]·b[i] in double (products formed in double, as the naive twin).</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (b.Length < a.Length) throw new ArgumentException($"Second input has {b.Length} elements but the first has {a.Length}.", nameof(b));
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        nuint n = (nuint)a.Length, i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<double> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (alo, ahi) = Vector512.Widen(Vector512.LoadUnsafe(ref ar, i));
                var (blo, bhi) = Vector512.Widen(Vector512.LoadUnsafe(ref br, i));
                s0 = Vector512.FusedMultiplyAdd(alo, blo, s0); s1 = Vector512.FusedMultiplyAdd(ahi, bhi, s1);
            }
            total = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                var (alo, ahi) = Vector256.Widen(Vector256.LoadUnsafe(ref ar, i));
                var (blo, bhi) = Vector256.Widen(Vector256.LoadUnsafe(ref br, i));
                s0 += alo * blo; s1 += ahi * bhi;
            }
            total = Vector256.Sum(s0 + s1);
        }
        else if (Vector.IsHardwareAccelerated)
        {
            Vector<double> s0 = default, s1 = default;
            nuint w = (nuint)Vector<float>.Count;
            for (; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref ar, i), out var alo, out var ahi);
                Vector.Widen(Vector.LoadUnsafe(ref br, i), out var blo, out var bhi);
                s0 += alo * blo; s1 += ahi * bhi;
            }
            total = Vector.Sum(s0 + s1);
        }
        for (; i < n; i++) total += (double)Unsafe.Add(ref ar, i) * Unsafe.Add(ref br, i);
        return total;
    }
}
