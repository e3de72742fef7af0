using System.Numerics;
using System.Runtime.InteropServices;

namespace ConvEngine;

// Fast batch-norm kernels over x viewed as [outer, channels, inner] (NCHW: outer = N, inner = H·W).
//   statistics  mean[c] = Σ x / M,  var[c] = Σ (x − mean)² / M          (M = outer·inner, biased)
//   forward     y = (x − mean[c])·(invStd[c]·gamma[c]) + beta[c]
//   backward    dBeta[c] += Σ dY,  dGamma[c] += Σ dY·x̂                   (accumulated)
//               dX = invStd/M·(M·g − Σg − x̂·Σ(g·x̂)), g = dY·gamma        (batch statistics)
//               dX = dY·gamma·invStd                                      (fixed statistics)
// BatchNorm1d on [N, C] (inner = 1) is vectorised across channels instead: per-channel float partials over blocks of
// NormRowBlock rows, flushed into double. Other rows shorter than a vector take a contiguous scalar path with double sums.
// Otherwise SIMD (Vector<float>) runs along the contiguous inner dimension; sums are taken in float vector lanes over blocks of
// NormBlock elements and each block's total is added in double, so long rows keep about double accuracy.
// Threads: statistics and backward give one channel to one work item (a channel's sums are computed serially, so the result
// does not depend on the thread count at all); forward splits the rows (o, c) into contiguous chunks.
public sealed partial class CpuDevice
{
    private const int NormBlock = 512;
    private const int NormParallelThreshold = 1 << 15;
    private const int NormRowBlock = 64;

    /// <inheritdoc/>
    public override void BatchNormStatistics(Tensor x, int outer, int channels, int inner, Tensor mean, Tensor variance)
    {
        long total = (long)outer * channels * inner;
        NeedLength(x, total, nameof(x));
        NeedLength(mean, channels, nameof(mean));
        NeedLength(variance, channels, nameof(variance));
        float[] xs = A(x), ms = A(mean), vs = A(variance);
        int m = outer * inner;
        if (inner == 1)
        {
            // [N, C]: vectorise across channels; float partials over blocks of NormRowBlock rows, flushed into double.
            NormForChannelRanges(channels, total, (c0, c1) =>
            {
                int len = c1 - c0;
                var s = new double[len]; var acc = new float[len];
                for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
                {
                    Array.Clear(acc);
                    for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++) NormAccumulate(acc, xs.AsSpan(o * channels + c0, len));
                    for (int j = 0; j < len; j++) s[j] += acc[j];
                }
                var muf = new float[len];
                for (int j = 0; j < len; j++) muf[j] = (float)(s[j] / m);
                var v = new double[len];
                for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
                {
                    Array.Clear(acc);
                    for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++) NormAccumulateSquaredDeviation(acc, xs.AsSpan(o * channels + c0, len), muf);
                    for (int j = 0; j < len; j++) v[j] += acc[j];
                }
                for (int j = 0; j < len; j++) { ms[c0 + j] = muf[j]; vs[c0 + j] = (float)(v[j] / m); }
            });
            return;
        }
        if (inner < Vector<float>.Count)
        {
            // Short rows (inner < vector width): walk x contiguously, one double accumulator per channel.
            NormForChannelRanges(channels, total, (c0, c1) =>
            {
                var s = new double[c1 - c0];
                for (int o = 0; o < outer; o++)
                    for (int c = c0; c < c1; c++)
                    {
                        int off = (o * channels + c) * inner;
                        for (int i = 0; i < inner; i++) s[c - c0] += xs[off + i];
                    }
                var v = new double[c1 - c0];
                for (int c = c0; c < c1; c++) s[c - c0] /= m;
                for (int o = 0; o < outer; o++)
                    for (int c = c0; c < c1; c++)
                    {
                        int off = (o * channels + c) * inner;
                        double mu = s[c - c0];
                        for (int i = 0; i < inner; i++) { double d = xs[off + i] - mu; v[c - c0] += d * d; }
                    }
                for (int c = c0; c < c1; c++) { ms[c] = (float)s[c - c0]; vs[c] = (float)(v[c - c0] / m); }
            });
            return;
        }
        void Channel(int c)
        {
            double s = 0;
            for (int o = 0; o < outer; o++) s += NormSum(xs.AsSpan((o * channels + c) * inner, inner));
            double mu = m == 0 ? double.NaN : s / m;
            float muf = (float)mu;
            double v = 0;
            for (int o = 0; o < outer; o++) v += NormSumSquaredDeviation(xs.AsSpan((o * channels + c) * inner, inner), muf);
            ms[c] = muf;
            vs[c] = (float)(v / m);
        }
        NormForChannels(channels, total, Channel);
    }

    /// <inheritdoc/>
    public override void BatchNormForward(Tensor x, Tensor mean, Tensor invStd, Tensor gamma, Tensor beta, int outer, int channels, int inner, Tensor y)
    {
        long total = (long)outer * channels * inner;
        NeedLength(x, total, nameof(x));
        NeedLength(y, total, nameof(y));
        foreach (var (t, name) in new[] { (mean, nameof(mean)), (invStd, nameof(invStd)), (gamma, nameof(gamma)), (beta, nameof(beta)) })
            NeedLength(t, channels, name);
        float[] xs = A(x), ys = A(y), mu = A(mean), inv = A(invStd), ga = A(gamma), be = A(beta);
        int rows = outer * channels;
        if (rows == 0 || inner == 0) return;
        if (inner == 1)
        {
            // [N, C]: vectorise across channels, y[o, :] = (x[o, :] − mean)·(invStd·gamma) + beta.
            var scale = new float[channels];
            for (int c = 0; c < channels; c++) scale[c] = inv[c] * ga[c];
            int parts = total < NormParallelThreshold ? 1 : Math.Min(outer, Threads * 4);
            ParallelFor(parts, k =>
            {
                int o0 = (int)((long)outer * k / parts), o1 = (int)((long)outer * (k + 1) / parts);
                for (int o = o0; o < o1; o++) NormAffineAcross(xs.AsSpan(o * channels, channels), mu, scale, be, ys.AsSpan(o * channels, channels));
            });
            return;
        }
        int chunks = total < NormParallelThreshold ? 1 : Math.Min(rows, Threads * 4);
        ParallelFor(chunks, k =>
        {
            int r0 = (int)((long)rows * k / chunks), r1 = (int)((long)rows * (k + 1) / chunks);
            for (int r = r0; r < r1; r++)
            {
                int c = r % channels;
                NormAffineRow(xs.AsSpan(r * inner, inner), mu[c], inv[c] * ga[c], be[c], ys.AsSpan(r * inner, inner));
            }
        });
    }

    /// <inheritdoc/>
    public override void BatchNormBackward(Tensor x, Tensor dY, Tensor mean, Tensor invStd, Tensor gamma, int outer, int channels, int inner,
                                           bool batchStatistics, Tensor dX, Tensor dGamma, Tensor dBeta)
    {
        long total = (long)outer * channels * inner;
        NeedLength(x, total, nameof(x));
        NeedLength(dY, total, nameof(dY));
        NeedLength(dX, total, nameof(dX));
        foreach (var (t, name) in new[] { (mean, nameof(mean)), (invStd, nameof(invStd)), (gamma, nameof(gamma)), (dGamma, nameof(dGamma)), (dBeta, nameof(dBeta)) })
            NeedLength(t, channels, name);
        float[] xs = A(x), gs = A(dY), dxs = A(dX), mu = A(mean), inv = A(invStd), ga = A(gamma), dga = A(dGamma), dbe = A(dBeta);
        int m = outer * inner;
        if (inner == 1)
        {
            // [N, C]: vectorise across channels as the statistics do, then dX[o, :] = a·dY + (b·(x − mean) + d) per row.
            NormForChannelRanges(channels, total, (c0, c1) =>
            {
                int len = c1 - c0;
                var sumDy = new double[len]; var sumDyDev = new double[len];
                var accS = new float[len]; var accD = new float[len];
                var muc = mu.AsSpan(c0, len);
                for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
                {
                    Array.Clear(accS); Array.Clear(accD);
                    for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++)
                        NormAccumulateSumAndDot(accS, accD, gs.AsSpan(o * channels + c0, len), xs.AsSpan(o * channels + c0, len), muc);
                    for (int j = 0; j < len; j++) { sumDy[j] += accS[j]; sumDyDev[j] += accD[j]; }
                }
                var ca = new float[len]; var cb = new float[len]; var cd = new float[len];
                for (int j = 0; j < len; j++)
                {
                    int c = c0 + j;
                    double sumDyXhat = sumDyDev[j] * inv[c];
                    dga[c] += (float)sumDyXhat;
                    dbe[c] += (float)sumDy[j];
                    ca[j] = ga[c] * inv[c];
                    if (batchStatistics)
                    {
                        cb[j] = (float)(-(double)ga[c] * inv[c] * inv[c] * sumDyXhat / m);
                        cd[j] = (float)(-(double)ga[c] * inv[c] * sumDy[j] / m);
                    }
                }
                for (int o = 0; o < outer; o++)
                    NormBackwardAcross(gs.AsSpan(o * channels + c0, len), xs.AsSpan(o * channels + c0, len), muc, ca, cb, cd, dxs.AsSpan(o * channels + c0, len));
            });
            return;
        }
        if (inner < Vector<float>.Count)
        {
            // Short rows: walk contiguously with per-channel double sums, then write dX row by row.
            NormForChannelRanges(channels, total, (c0, c1) =>
            {
                int len = c1 - c0;
                var sumDy = new double[len]; var sumDyDev = new double[len];
                for (int o = 0; o < outer; o++)
                    for (int c = c0; c < c1; c++)
                    {
                        int off = (o * channels + c) * inner;
                        float muc = mu[c];
                        for (int i = 0; i < inner; i++) { float g = gs[off + i]; sumDy[c - c0] += g; sumDyDev[c - c0] += (double)g * (xs[off + i] - muc); }
                    }
                var ca = new float[len]; var cb = new float[len]; var cd = new float[len];
                for (int c = c0; c < c1; c++)
                {
                    int j = c - c0;
                    double sumDyXhat = sumDyDev[j] * inv[c];
                    dga[c] += (float)sumDyXhat;
                    dbe[c] += (float)sumDy[j];
                    ca[j] = ga[c] * inv[c];
                    if (batchStatistics && m > 0)
                    {
                        cb[j] = (float)(-(double)ga[c] * inv[c] * inv[c] * sumDyXhat / m);
                        cd[j] = (float)(-(double)ga[c] * inv[c] * sumDy[j] / m);
                    }
                }
                for (int o = 0; o < outer; o++)
                    for (int c = c0; c < c1; c++)
                    {
                        int off = (o * channels + c) * inner, j = c - c0;
                        for (int i = 0; i < inner; i++) dxs[off + i] = ca[j] * gs[off + i] + (cb[j] * (xs[off + i] - mu[c]) + cd[j]);
                    }
            });
            return;
        }
        void Channel(int c)
        {
            float muc = mu[c], invc = inv[c], gac = ga[c];
            double sumDy = 0, sumDyDev = 0;
            for (int o = 0; o < outer; o++)
            {
                int off = (o * channels + c) * inner;
                var (rowSum, rowDot) = NormSumAndDot(gs.AsSpan(off, inner), xs.AsSpan(off, inner), muc);
                sumDy += rowSum;
                sumDyDev += rowDot;
            }
            double sumDyXhat = sumDyDev * invc;
            dga[c] += (float)sumDyXhat;
            dbe[c] += (float)sumDy;
            // dX = a·dY + b·(x − mean) + d
            float a = gac * invc, b = 0, d = 0;
            if (batchStatistics && m > 0)
            {
                b = (float)(-(double)gac * invc * invc * sumDyXhat / m);
                d = (float)(-(double)gac * invc * sumDy / m);
            }
            for (int o = 0; o < outer; o++)
            {
                int off = (o * channels + c) * inner;
                NormBackwardRow(gs.AsSpan(off, inner), xs.AsSpan(off, inner), muc, a, b, d, dxs.AsSpan(off, inner));
            }
        }
        NormForChannels(channels, total, Channel);
    }

    /// <summary>Runs one work item per channel, threaded only when the tensor is large enough to pay for it.</summary>
    private void NormForChannels(int channels, long total, Action<int> channel)
    {
        if (total < NormParallelThreshold) { for (int c = 0; c < channels; c++) channel(c); }
        else ParallelFor(channels, channel);
    }

    /// <summary>Splits the channels into contiguous ranges, one work item each (one range when the tensor is small).</summary>
    private void NormForChannelRanges(int channels, long total, Action<int, int> range)
    {
        int parts = total < NormParallelThreshold ? 1 : Math.Min(channels, Threads);
        ParallelFor(parts, k => range((int)((long)channels * k / parts), (int)((long)channels * (k + 1) / parts)));
    }

    /// <summary>y[c] = (x[c] − mu[c])·scale[c] + shift[c], vectorised over c.</summary>
    private static void NormAffineAcross(ReadOnlySpan<float> x, ReadOnlySpan<float> mu, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = MemoryMarshal.Cast<float, Vector<float>>(mu[..x.Length]);
        var sv = MemoryMarshal.Cast<float, Vector<float>>(scale[..x.Length]);
        var bv = MemoryMarshal.Cast<float, Vector<float>>(shift[..x.Length]);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        for (int i = 0; i < xv.Length; i++) yv[i] = (xv[i] - mv[i]) * sv[i] + bv[i];
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++) y[i] = (x[i] - mu[i]) * scale[i] + shift[i];
    }

    /// <summary>acc[j] += x[j], vectorised.</summary>
    private static void NormAccumulate(Span<float> acc, ReadOnlySpan<float> x)
    {
        var av = MemoryMarshal.Cast<float, Vector<float>>(acc);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        for (int i = 0; i < av.Length; i++) av[i] += xv[i];
        for (int i = av.Length * Vector<float>.Count; i < acc.Length; i++) acc[i] += x[i];
    }

    /// <summary>acc[j] += (x[j] − mu[j])², vectorised.</summary>
    private static void NormAccumulateSquaredDeviation(Span<float> acc, ReadOnlySpan<float> x, ReadOnlySpan<float> mu)
    {
        var av = MemoryMarshal.Cast<float, Vector<float>>(acc);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = MemoryMarshal.Cast<float, Vector<float>>(mu);
        for (int i = 0; i < av.Length; i++) { var d = xv[i] - mv[i]; av[i] += d * d; }
        for (int i = av.Length * Vector<float>.Count; i < acc.Length; i++) { float d = x[i] - mu[i]; acc[i] += d * d; }
    }

    /// <summary>accS[j] += g[j]; accD[j] += g[j]·(x[j] − mu[j]), vectorised.</summary>
    private static void NormAccumulateSumAndDot(Span<float> accS, Span<float> accD, ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> mu)
    {
        var sv = MemoryMarshal.Cast<float, Vector<float>>(accS);
        var dv = MemoryMarshal.Cast<float, Vector<float>>(accD);
        var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = MemoryMarshal.Cast<float, Vector<float>>(mu);
        for (int i = 0; i < sv.Length; i++) { sv[i] += gv[i]; dv[i] += gv[i] * (xv[i] - mv[i]); }
        for (int i = sv.Length * Vector<float>.Count; i < accS.Length; i++) { accS[i] += g[i]; accD[i] += g[i] * (x[i] - mu[i]); }
    }

    /// <summary>dX[j] = a[j]·g[j] + (b[j]·(x[j] − mu[j]) + d[j]), vectorised.</summary>
    private static void NormBackwardAcross(ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> mu,
                                           ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> d, Span<float> dX)
    {
        var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = MemoryMarshal.Cast<float, Vector<float>>(mu);
        var av = MemoryMarshal.Cast<float, Vector<float>>(a);
        var bv = MemoryMarshal.Cast<float, Vector<float>>(b);
        var cv = MemoryMarshal.Cast<float, Vector<float>>(d);
        var ov = MemoryMarshal.Cast<float, Vector<float>>(dX);
        for (int i = 0; i < gv.Length; i++) ov[i] = av[i] * gv[i] + (bv[i] * (xv[i] - mv[i]) + cv[i]);
        for (int i = gv.Length * Vector<float>.Count; i < g.Length; i++) dX[i] = a[i] * g[i] + (b[i] * (x[i] - mu[i]) + d[i]);
    }

    /// <summary>Σ x: float vector lanes within blocks of <see cref="NormBlock"/>, blocks added in double.</summary>
    private static double NormSum(ReadOnlySpan<float> x)
    {
        double total = 0;
        int w = Vector<float>.Count;
        for (int b = 0; b < x.Length; b += NormBlock)
        {
            var seg = x.Slice(b, Math.Min(NormBlock, x.Length - b));
            var vs = MemoryMarshal.Cast<float, Vector<float>>(seg);
            Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero; // two chains hide the add latency
            int k = 0;
            for (; k + 1 < vs.Length; k += 2) { a0 += vs[k]; a1 += vs[k + 1]; }
            if (k < vs.Length) a0 += vs[k];
            float s = Vector.Sum(a0 + a1);
            for (int i = vs.Length * w; i < seg.Length; i++) s += seg[i];
            total += s;
        }
        return total;
    }

    /// <summary>Σ (x − mu)², blocked as <see cref="NormSum"/>.</summary>
    private static double NormSumSquaredDeviation(ReadOnlySpan<float> x, float mu)
    {
        double total = 0;
        int w = Vector<float>.Count;
        var vmu = new Vector<float>(mu);
        for (int b = 0; b < x.Length; b += NormBlock)
        {
            var seg = x.Slice(b, Math.Min(NormBlock, x.Length - b));
            var vs = MemoryMarshal.Cast<float, Vector<float>>(seg);
            Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero;
            int k = 0;
            for (; k + 1 < vs.Length; k += 2) { var d0 = vs[k] - vmu; var d1 = vs[k + 1] - vmu; a0 += d0 * d0; a1 += d1 * d1; }
            if (k < vs.Length) { var d0 = vs[k] - vmu; a0 += d0 * d0; }
            float s = Vector.Sum(a0 + a1);
            for (int i = vs.Length * w; i < seg.Length; i++) { float d = seg[i] - mu; s += d * d; }
            total += s;
        }
        return total;
    }

    /// <summary>(Σ g, Σ g·(x − mu)), blocked as <see cref="NormSum"/>.</summary>
    private static (double Sum, double Dot) NormSumAndDot(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mu)
    {
        double sum = 0, dot = 0;
        int w = Vector<float>.Count;
        var vmu = new Vector<float>(mu);
        for (int b = 0; b < g.Length; b += NormBlock)
        {
            int len = Math.Min(NormBlock, g.Length - b);
            var gseg = g.Slice(b, len);
            var xseg = x.Slice(b, len);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(gseg);
            var xv = MemoryMarshal.Cast<float, Vector<float>>(xseg);
            Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, d0 = Vector<float>.Zero, d1 = Vector<float>.Zero;
            int k = 0;
            for (; k + 1 < gv.Length; k += 2)
            {
                s0 += gv[k]; d0 += gv[k] * (xv[k] - vmu);
                s1 += gv[k + 1]; d1 += gv[k + 1] * (xv[k + 1] - vmu);
            }
            if (k < gv.Length) { s0 += gv[k]; d0 += gv[k] * (xv[k] - vmu); }
            float s = Vector.Sum(s0 + s1), d = Vector.Sum(d0 + d1);
            for (int i = gv.Length * w; i < len; i++) { s += gseg[i]; d += gseg[i] * (xseg[i] - mu); }
            sum += s;
            dot += d;
        }
        return (sum, dot);
    }

    /// <summary>y = (x − mu)·scale + shift.</summary>
    private static void NormAffineRow(ReadOnlySpan<float> x, float mu, float scale, float shift, Span<float> y)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        Vector<float> vmu = new(mu), vs = new(scale), vb = new(shift);
        for (int i = 0; i < xv.Length; i++) yv[i] = (xv[i] - vmu) * vs + vb;
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++) y[i] = (x[i] - mu) * scale + shift;
    }

    /// <summary>dX = a·g + (b·(x − mu) + d).</summary>
    private static void NormBackwardRow(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float mu, float a, float b, float d, Span<float> dX)
    {
        var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var dv = MemoryMarshal.Cast<float, Vector<float>>(dX);
        Vector<float> vmu = new(mu), va = new(a), vb = new(b), vd = new(d);
        for (int i = 0; i < gv.Length; i++) dv[i] = va * gv[i] + (vb * (xv[i] - vmu) + vd);
        for (int i = gv.Length * Vector<float>.Count; i < g.Length; i++) dX[i] = a * g[i] + (b * (x[i] - mu) + d);
    }
}
