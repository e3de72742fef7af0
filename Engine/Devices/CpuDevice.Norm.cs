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
        // [N, C]: vectorise across channels; short rows (inner < vector width): walk x contiguously; otherwise one channel per item.
        if (inner == 1) NormForChannelRanges(channels, total, new StatsAcrossBody(xs, ms, vs, outer, channels, m));
        else if (inner < Vector<float>.Count) NormForChannelRanges(channels, total, new StatsShortBody(xs, ms, vs, outer, channels, inner, m));
        else NormForChannels(channels, total, new StatsChannelBody(xs, ms, vs, outer, channels, inner, m));
    }

    // Per-thread scratch of the channel-range work items (NormForChannelRanges): per-channel double sums and float partials
    // or coefficients, carved into exact-length spans (the vectorised helpers walk the whole accumulator span). Items never nest.
    [ThreadStatic] private static double[]? t_normItemDoubles;
    [ThreadStatic] private static float[]? t_normItemFloats;

    /// <summary>Channels [c0, c0 + len) of [N, C] statistics: float partials over blocks of NormRowBlock rows, flushed into double.</summary>
    private readonly struct StatsAcrossBody(float[] xs, float[] ms, float[] vs, int outer, int channels, int m) : IRangeBody
    {
        public void Invoke(int c0, int len)
        {
            var dbl = Scratch.Get(ref t_normItemDoubles, 2 * len);
            var flt = Scratch.Get(ref t_normItemFloats, 2 * len);
            Span<double> s = dbl.AsSpan(0, len), v = dbl.AsSpan(len, len);
            Span<float> acc = flt.AsSpan(0, len), muf = flt.AsSpan(len, len);
            s.Clear(); v.Clear();
            for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
            {
                acc.Clear();
                for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++) NormAccumulate(acc, xs.AsSpan(o * channels + c0, len));
                for (int j = 0; j < len; j++) s[j] += acc[j];
            }
            for (int j = 0; j < len; j++) muf[j] = (float)(s[j] / m);
            for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
            {
                acc.Clear();
                for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++) NormAccumulateSquaredDeviation(acc, xs.AsSpan(o * channels + c0, len), muf);
                for (int j = 0; j < len; j++) v[j] += acc[j];
            }
            for (int j = 0; j < len; j++) { ms[c0 + j] = muf[j]; vs[c0 + j] = (float)(v[j] / m); }
        }
    }

    /// <summary>Channels [c0, c0 + len) of short-row statistics: x walked contiguously, one double accumulator per channel.</summary>
    private readonly struct StatsShortBody(float[] xs, float[] ms, float[] vs, int outer, int channels, int inner, int m) : IRangeBody
    {
        public void Invoke(int c0, int len)
        {
            int c1 = c0 + len;
            var dbl = Scratch.Get(ref t_normItemDoubles, 2 * len);
            Span<double> s = dbl.AsSpan(0, len), v = dbl.AsSpan(len, len);
            s.Clear(); v.Clear();
            for (int o = 0; o < outer; o++)
                for (int c = c0; c < c1; c++)
                {
                    int off = (o * channels + c) * inner;
                    for (int i = 0; i < inner; i++) s[c - c0] += xs[off + i];
                }
            for (int c = c0; c < c1; c++) s[c - c0] /= m;
            for (int o = 0; o < outer; o++)
                for (int c = c0; c < c1; c++)
                {
                    int off = (o * channels + c) * inner;
                    double mu = s[c - c0];
                    for (int i = 0; i < inner; i++) { double d = xs[off + i] - mu; v[c - c0] += d * d; }
                }
            for (int c = c0; c < c1; c++) { ms[c] = (float)s[c - c0]; vs[c] = (float)(v[c - c0] / m); }
        }
    }

    /// <summary>Channel c's statistics, SIMD along its rows.</summary>
    private readonly struct StatsChannelBody(float[] xs, float[] ms, float[] vs, int outer, int channels, int inner, int m) : IParallelBody
    {
        public void Invoke(int c)
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
    }

    // BatchNormForward's invStd·gamma for [N, C] (computed by the calling thread, read by the work items).
    [ThreadStatic] private static float[]? t_normScale;

    /// <inheritdoc/>
    public override void BatchNormForward(Tensor x, Tensor mean, Tensor invStd, Tensor gamma, Tensor beta, int outer, int channels, int inner, Tensor y)
    {
        long total = (long)outer * channels * inner;
        NeedLength(x, total, nameof(x));
        NeedLength(y, total, nameof(y));
        NeedLength(mean, channels, nameof(mean));
        NeedLength(invStd, channels, nameof(invStd));
        NeedLength(gamma, channels, nameof(gamma));
        NeedLength(beta, channels, nameof(beta));
        float[] xs = A(x), ys = A(y), mu = A(mean), inv = A(invStd), ga = A(gamma), be = A(beta);
        int rows = outer * channels;
        if (rows == 0 || inner == 0) return;
        if (inner == 1)
        {
            // [N, C]: vectorise across channels, y[o, :] = (x[o, :] − mean)·(invStd·gamma) + beta.
            var scale = Scratch.Get(ref t_normScale, channels);
            for (int c = 0; c < channels; c++) scale[c] = inv[c] * ga[c];
            int parts = total < NormParallelThreshold ? 1 : Math.Min(outer, Threads * 4);
            ParallelFor(parts, new ForwardAcrossBody(xs, mu, scale, be, ys, outer, channels, parts));
            return;
        }
        int chunks = total < NormParallelThreshold ? 1 : Math.Min(rows, Threads * 4);
        ParallelFor(chunks, new ForwardRowsBody(xs, mu, inv, ga, be, ys, rows, channels, inner, chunks));
    }

    /// <summary>Part k of the [N, C] forward: rows [N·k/parts, N·(k+1)/parts).</summary>
    private readonly struct ForwardAcrossBody(float[] xs, float[] mu, float[] scale, float[] be, float[] ys, int outer, int channels, int parts) : IParallelBody
    {
        public void Invoke(int k)
        {
            int o0 = (int)((long)outer * k / parts), o1 = (int)((long)outer * (k + 1) / parts);
            for (int o = o0; o < o1; o++) NormAffineAcross(xs.AsSpan(o * channels, channels), mu, scale, be, ys.AsSpan(o * channels, channels));
        }
    }

    /// <summary>Chunk k of the forward: rows (o, c) [rows·k/chunks, rows·(k+1)/chunks), each SIMD along inner.</summary>
    private readonly struct ForwardRowsBody(float[] xs, float[] mu, float[] inv, float[] ga, float[] be, float[] ys, int rows, int channels, int inner, int chunks)
        : IParallelBody
    {
        public void Invoke(int k)
        {
            int r0 = (int)((long)rows * k / chunks), r1 = (int)((long)rows * (k + 1) / chunks);
            for (int r = r0; r < r1; r++)
            {
                int c = r % channels;
                NormAffineRow(xs.AsSpan(r * inner, inner), mu[c], inv[c] * ga[c], be[c], ys.AsSpan(r * inner, inner));
            }
        }
    }

    /// <inheritdoc/>
    public override void BatchNormBackward(Tensor x, Tensor dY, Tensor mean, Tensor invStd, Tensor gamma, int outer, int channels, int inner,
                                           bool batchStatistics, Tensor dX, Tensor dGamma, Tensor dBeta)
    {
        long total = (long)outer * channels * inner;
        NeedLength(x, total, nameof(x));
        NeedLength(dY, total, nameof(dY));
        NeedLength(dX, total, nameof(dX));
        NeedLength(mean, channels, nameof(mean));
        NeedLength(invStd, channels, nameof(invStd));
        NeedLength(gamma, channels, nameof(gamma));
        NeedLength(dGamma, channels, nameof(dGamma));
        NeedLength(dBeta, channels, nameof(dBeta));
        var args = new NormBackwardArgs(A(x), A(dY), A(dX), A(mean), A(invStd), A(gamma), A(dGamma), A(dBeta), outer, channels, inner, batchStatistics);
        // [N, C]: vectorise across channels as the statistics do; short rows: walk contiguously; otherwise one channel per item.
        if (inner == 1) NormForChannelRanges(channels, total, new BackwardAcrossBody(args));
        else if (inner < Vector<float>.Count) NormForChannelRanges(channels, total, new BackwardShortBody(args));
        else NormForChannels(channels, total, new BackwardChannelBody(args));
    }

    /// <summary>What every batch-norm backward work item reads and writes.</summary>
    private readonly record struct NormBackwardArgs(float[] Xs, float[] Gs, float[] Dxs, float[] Mu, float[] Inv, float[] Ga, float[] DGa, float[] DBe,
                                                    int Outer, int Channels, int Inner, bool BatchStatistics)
    {
        public int M => Outer * Inner;
    }

    /// <summary>Channels [c0, c0 + len) of the [N, C] backward: sums across channels as the statistics do, then dX[o, :] = a·dY + (b·(x − mean) + d) per row.</summary>
    private readonly struct BackwardAcrossBody(NormBackwardArgs p) : IRangeBody
    {
        public void Invoke(int c0, int len)
        {
            float[] xs = p.Xs, gs = p.Gs, dxs = p.Dxs, mu = p.Mu, inv = p.Inv, ga = p.Ga, dga = p.DGa, dbe = p.DBe;
            int outer = p.Outer, channels = p.Channels, m = p.M;
            var dbl = Scratch.Get(ref t_normItemDoubles, 2 * len);
            var flt = Scratch.Get(ref t_normItemFloats, 5 * len);
            Span<double> sumDy = dbl.AsSpan(0, len), sumDyDev = dbl.AsSpan(len, len);
            Span<float> accS = flt.AsSpan(0, len), accD = flt.AsSpan(len, len);
            Span<float> ca = flt.AsSpan(2 * len, len), cb = flt.AsSpan(3 * len, len), cd = flt.AsSpan(4 * len, len);
            sumDy.Clear(); sumDyDev.Clear(); cb.Clear(); cd.Clear();
            var muc = mu.AsSpan(c0, len);
            for (int o0 = 0; o0 < outer; o0 += NormRowBlock)
            {
                accS.Clear(); accD.Clear();
                for (int o = o0; o < Math.Min(outer, o0 + NormRowBlock); o++)
                    NormAccumulateSumAndDot(accS, accD, gs.AsSpan(o * channels + c0, len), xs.AsSpan(o * channels + c0, len), muc);
                for (int j = 0; j < len; j++) { sumDy[j] += accS[j]; sumDyDev[j] += accD[j]; }
            }
            for (int j = 0; j < len; j++)
            {
                int c = c0 + j;
                double sumDyXhat = sumDyDev[j] * inv[c];
                dga[c] += (float)sumDyXhat;
                dbe[c] += (float)sumDy[j];
                ca[j] = ga[c] * inv[c];
                if (p.BatchStatistics)
                {
                    cb[j] = (float)(-(double)ga[c] * inv[c] * inv[c] * sumDyXhat / m);
                    cd[j] = (float)(-(double)ga[c] * inv[c] * sumDy[j] / m);
                }
            }
            for (int o = 0; o < outer; o++)
                NormBackwardAcross(gs.AsSpan(o * channels + c0, len), xs.AsSpan(o * channels + c0, len), muc, ca, cb, cd, dxs.AsSpan(o * channels + c0, len));
        }
    }

    /// <summary>Channels [c0, c0 + len) of the short-row backward: contiguous walk with per-channel double sums, then dX row by row.</summary>
    private readonly struct BackwardShortBody(NormBackwardArgs p) : IRangeBody
    {
        public void Invoke(int c0, int len)
        {
            float[] xs = p.Xs, gs = p.Gs, dxs = p.Dxs, mu = p.Mu, inv = p.Inv, ga = p.Ga, dga = p.DGa, dbe = p.DBe;
            int outer = p.Outer, channels = p.Channels, inner = p.Inner, m = p.M, c1 = c0 + len;
            var dbl = Scratch.Get(ref t_normItemDoubles, 2 * len);
            var flt = Scratch.Get(ref t_normItemFloats, 3 * len);
            Span<double> sumDy = dbl.AsSpan(0, len), sumDyDev = dbl.AsSpan(len, len);
            Span<float> ca = flt.AsSpan(0, len), cb = flt.AsSpan(len, len), cd = flt.AsSpan(2 * len, len);
            sumDy.Clear(); sumDyDev.Clear(); cb.Clear(); cd.Clear();
            for (int o = 0; o < outer; o++)
                for (int c = c0; c < c1; c++)
                {
                    int off = (o * channels + c) * inner;
                    float muc = mu[c];
                    for (int i = 0; i < inner; i++) { float g = gs[off + i]; sumDy[c - c0] += g; sumDyDev[c - c0] += (double)g * (xs[off + i] - muc); }
                }
            for (int c = c0; c < c1; c++)
            {
                int j = c - c0;
                double sumDyXhat = sumDyDev[j] * inv[c];
                dga[c] += (float)sumDyXhat;
                dbe[c] += (float)sumDy[j];
                ca[j] = ga[c] * inv[c];
                if (p.BatchStatistics && m > 0)
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
        }
    }

    /// <summary>Channel c of the backward, SIMD along its rows.</summary>
    private readonly struct BackwardChannelBody(NormBackwardArgs p) : IParallelBody
    {
        public void Invoke(int c)
        {
            float[] xs = p.Xs, gs = p.Gs, dxs = p.Dxs;
            int outer = p.Outer, channels = p.Channels, inner = p.Inner, m = p.M;
            float muc = p.Mu[c], invc = p.Inv[c], gac = p.Ga[c];
            double sumDy = 0, sumDyDev = 0;
            for (int o = 0; o < outer; o++)
            {
                int off = (o * channels + c) * inner;
                var (rowSum, rowDot) = NormSumAndDot(gs.AsSpan(off, inner), xs.AsSpan(off, inner), muc);
                sumDy += rowSum;
                sumDyDev += rowDot;
            }
            double sumDyXhat = sumDyDev * invc;
            p.DGa[c] += (float)sumDyXhat;
            p.DBe[c] += (float)sumDy;
            // dX = a·dY + b·(x − mean) + d
            float a = gac * invc, b = 0, d = 0;
            if (p.BatchStatistics && m > 0)
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
    }

    /// <summary>Runs one work item per channel, threaded only when the tensor is large enough to pay for it.</summary>
    private void NormForChannels<T>(int channels, long total, in T channel) where T : struct, IParallelBody
    {
        if (total < NormParallelThreshold) { for (int c = 0; c < channels; c++) channel.Invoke(c); }
        else ParallelFor(channels, channel);
    }

    /// <summary>Splits the channels into contiguous ranges, one work item each (one range when the tensor is small); range.Invoke(c0, count).</summary>
    private void NormForChannelRanges<T>(int channels, long total, in T range) where T : struct, IRangeBody
    {
        int parts = total < NormParallelThreshold ? 1 : Math.Min(channels, Threads);
        ParallelFor(parts, new ChannelRangeBody<T>(range, channels, parts));
    }

    /// <summary>Part k of <see cref="NormForChannelRanges{T}"/>: channels [C·k/parts, C·(k+1)/parts).</summary>
    private readonly struct ChannelRangeBody<T>(T range, int channels, int parts) : IParallelBody where T : struct, IRangeBody
    {
        public void Invoke(int k)
        {
            int c0 = (int)((long)channels * k / parts), c1 = (int)((long)channels * (k + 1) / parts);
            range.Invoke(c0, c1 - c0);
        }
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
