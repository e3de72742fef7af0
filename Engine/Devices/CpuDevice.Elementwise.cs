// CpuDevice element-wise and per-channel primitives: the SIMD operator structs of Kernels/Simd driven by SimdDriver,
// split into chunks across threads when a tensor is large. Element-wise results do not depend on chunking; reductions
// use a fixed chunk size (independent of the thread count) and combine partials in chunk order, so they are
// bitwise reproducible for any thread count.
using ConvEngine.Kernels.Simd;

namespace ConvEngine;

public sealed partial class CpuDevice
{
    /// <summary>Element counts above this are split across threads.</summary>
    internal const int ElementwiseParallelMin = 1 << 16;
    /// <summary>Fixed chunk length of parallel reductions (fixed so the summation order never depends on the thread count).</summary>
    internal const int ReduceChunkLength = 1 << 15;

    /// <summary>Runs body(start, length) over [0, length) in contiguous chunks, in parallel when the length warrants it.</summary>
    internal void RunChunked(int length, Action<int, int> body)
    {
        if (length <= ElementwiseParallelMin || Threads == 1) { body(0, length); return; }
        int chunks = Math.Min(Threads * 4, (length + 16383) / 16384);
        int per = ((length + chunks - 1) / chunks + 63) & ~63;
        chunks = (length + per - 1) / per;
        ParallelFor(chunks, i => { int s = i * per; body(s, Math.Min(per, length - s)); });
    }

    /// <summary>Runs body.Invoke(start, length) over [0, length) in contiguous chunks, in parallel when the length warrants it (allocates nothing).</summary>
    internal void RunChunked<T>(int length, in T body) where T : struct, IRangeBody
    {
        if (length <= ElementwiseParallelMin || Threads == 1) { body.Invoke(0, length); return; }
        int chunks = Math.Min(Threads * 4, (length + 16383) / 16384);
        int per = ((length + chunks - 1) / chunks + 63) & ~63;
        chunks = (length + per - 1) / per;
        ParallelFor(chunks, new ChunkBody<T>(body, per, length));
    }

    /// <summary>Chunk i of <see cref="RunChunked{T}(int, in T)"/>: elements [i·per, min((i+1)·per, length)).</summary>
    private readonly struct ChunkBody<T>(T body, int per, int length) : IParallelBody where T : struct, IRangeBody
    {
        public void Invoke(int item)
        {
            int s = item * per;
            body.Invoke(s, Math.Min(per, length - s));
        }
    }

    /// <summary>Σ reduce(x) over fixed chunks of <see cref="ReduceChunkLength"/> elements, partials combined in order.</summary>
    private double RunChunkedReduce<TOp>(float[] x, int length, TOp op) where TOp : struct, IReduceOp
    {
        if (length <= ReduceChunkLength) return SimdDriver.Reduce(x.AsSpan(0, length), op);
        int chunks = (length + ReduceChunkLength - 1) / ReduceChunkLength;
        var partial = new double[chunks];
        ParallelFor(chunks, i =>
        {
            int s = i * ReduceChunkLength;
            partial[i] = SimdDriver.Reduce(x.AsSpan(s, Math.Min(ReduceChunkLength, length - s)), op);
        });
        double total = 0;
        foreach (var p in partial) total += p;
        return total;
    }

    /// <summary>Throws ArgumentException naming <paramref name="arg"/> unless <paramref name="t"/> has exactly <paramref name="length"/> elements.</summary>
    internal static void NeedElements(Tensor t, long length, string arg)
    {
        if (t.Length != length)
            throw new ArgumentException($"Tensor {arg} {t.ShapeString} has {t.Length} elements but the operation expects {length}.", arg);
    }

    /// <inheritdoc/>
    public override void Fill(Tensor x, float value)
    {
        var data = A(x);
        RunChunked(x.Length, (s, n) => data.AsSpan(s, n).Fill(value));
    }

    /// <inheritdoc/>
    public override void Unary(UnaryOp op, float alpha, Tensor x, Tensor y)
    {
        NeedElements(y, x.Length, nameof(y));
        float[] xs = A(x), ys = A(y);
        switch (op)
        {
            case UnaryOp.Identity: MapChunked(xs, ys, x.Length, new IdentityOp()); break;
            case UnaryOp.Relu: MapChunked(xs, ys, x.Length, new ReluOp()); break;
            case UnaryOp.LeakyRelu: MapChunked(xs, ys, x.Length, new LeakyReluOp(alpha)); break;
            case UnaryOp.Elu: MapChunked(xs, ys, x.Length, new EluOp(alpha)); break;
            case UnaryOp.Sigmoid: MapChunked(xs, ys, x.Length, new SigmoidOp()); break;
            case UnaryOp.Tanh: MapChunked(xs, ys, x.Length, new TanhOp()); break;
            case UnaryOp.Scale: MapChunked(xs, ys, x.Length, new ScaleOp(alpha)); break;
            case UnaryOp.Square: MapChunked(xs, ys, x.Length, new SquareOp()); break;
            case UnaryOp.RsqrtPlus: MapChunked(xs, ys, x.Length, new RsqrtPlusOp(alpha)); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op.");
        }
    }

    /// <inheritdoc/>
    public override void UnaryBackward(UnaryOp op, float alpha, Tensor x, Tensor y, Tensor dY, Tensor dX)
    {
        NeedElements(y, x.Length, nameof(y));
        NeedElements(dY, x.Length, nameof(dY));
        NeedElements(dX, x.Length, nameof(dX));
        float[] xs = A(x), ys = A(y), gs = A(dY), ds = A(dX);
        int n = x.Length;
        switch (op)
        {
            case UnaryOp.Identity: Map3Chunked(xs, ys, gs, ds, n, new IdentityBackwardOp()); break;
            case UnaryOp.Relu: Map3Chunked(xs, ys, gs, ds, n, new ReluBackwardOp()); break;
            case UnaryOp.LeakyRelu: Map3Chunked(xs, ys, gs, ds, n, new LeakyReluBackwardOp(alpha)); break;
            case UnaryOp.Elu: Map3Chunked(xs, ys, gs, ds, n, new EluBackwardOp(alpha)); break;
            case UnaryOp.Sigmoid: Map3Chunked(xs, ys, gs, ds, n, new SigmoidBackwardOp()); break;
            case UnaryOp.Tanh: Map3Chunked(xs, ys, gs, ds, n, new TanhBackwardOp()); break;
            case UnaryOp.Scale: Map3Chunked(xs, ys, gs, ds, n, new ScaleBackwardOp(alpha)); break;
            case UnaryOp.Square: Map3Chunked(xs, ys, gs, ds, n, new SquareBackwardOp()); break;
            case UnaryOp.RsqrtPlus: Map3Chunked(xs, ys, gs, ds, n, new RsqrtPlusBackwardOp()); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op.");
        }
    }

    /// <inheritdoc/>
    public override void Add(Tensor a, Tensor b, Tensor y)
    {
        NeedElements(b, a.Length, nameof(b));
        NeedElements(y, a.Length, nameof(y));
        Map2Chunked(A(a), A(b), A(y), a.Length, new AddOp());
    }

    /// <inheritdoc/>
    public override void Multiply(Tensor a, Tensor b, Tensor y)
    {
        NeedElements(b, a.Length, nameof(b));
        NeedElements(y, a.Length, nameof(y));
        Map2Chunked(A(a), A(b), A(y), a.Length, new MultiplyOp());
    }

    /// <inheritdoc/>
    public override void Axpby(float alpha, Tensor x, float beta, Tensor y)
    {
        NeedElements(y, x.Length, nameof(y));
        if (beta == 0) MapChunked(A(x), A(y), x.Length, new ScaleOp(alpha));
        else Map2Chunked(A(x), A(y), A(y), x.Length, new AxpbyOp(alpha, beta));
    }

    /// <inheritdoc/>
    public override double Sum(Tensor x) => RunChunkedReduce(A(x), x.Length, new SumReduce());

    /// <inheritdoc/>
    public override double SumOfSquares(Tensor x) => RunChunkedReduce(A(x), x.Length, new SquareReduce());

    /// <inheritdoc/>
    public override void AddChannelBias(Tensor y, Tensor bias, int outer, int channels, int inner)
    {
        NeedChannelView(y, outer, channels, inner, nameof(y));
        NeedElements(bias, channels, nameof(bias));
        float[] ys = A(y), bs = A(bias);
        if (inner == 1)
            RunRowGroups(outer, channels, o => { var row = ys.AsSpan(o * channels, channels); SimdDriver.Map2(row, bs.AsSpan(0, channels), row, new AddOp()); });
        else
            RunRowGroups(outer * channels, inner, r => { var row = ys.AsSpan(r * inner, inner); SimdDriver.Map(row, row, new AddScalarOp(bs[r % channels])); });
    }

    /// <inheritdoc/>
    public override void ChannelScale(Tensor x, Tensor scale, int outer, int channels, int inner, Tensor y)
    {
        NeedChannelView(x, outer, channels, inner, nameof(x));
        NeedElements(scale, channels, nameof(scale));
        NeedElements(y, x.Length, nameof(y));
        float[] xs = A(x), ss = A(scale), ys = A(y);
        if (inner == 1)
            RunRowGroups(outer, channels, o => SimdDriver.Map2(xs.AsSpan(o * channels, channels), ss.AsSpan(0, channels), ys.AsSpan(o * channels, channels), new MultiplyOp()));
        else
            RunRowGroups(outer * channels, inner, r => SimdDriver.Map(xs.AsSpan(r * inner, inner), ys.AsSpan(r * inner, inner), new ScaleOp(ss[r % channels])));
    }

    /// <inheritdoc/>
    public override void ChannelDot(Tensor a, Tensor? b, int outer, int channels, int inner, Tensor result, bool accumulate)
    {
        NeedChannelView(a, outer, channels, inner, nameof(a));
        if (b is not null) NeedElements(b, a.Length, nameof(b));
        NeedElements(result, channels, nameof(result));
        float[] av = A(a), rv = A(result);
        float[]? bv = b is null ? null : A(b);
        if (inner == 1)
        {
            // [outer, channels] matrix: accumulate column sums row by row in double (widened SIMD over channels would
            // change nothing numerically; the sizes here are small), in o order as the naive twin.
            var acc = new double[channels];
            for (int o = 0; o < outer; o++)
            {
                int row = o * channels;
                if (bv is null) for (int c = 0; c < channels; c++) acc[c] += av[row + c];
                else for (int c = 0; c < channels; c++) acc[c] += (double)av[row + c] * bv[row + c];
            }
            for (int c = 0; c < channels; c++) rv[c] = accumulate ? rv[c] + (float)acc[c] : (float)acc[c];
            return;
        }
        void Channel(int c)
        {
            double acc = 0;
            for (int o = 0; o < outer; o++)
            {
                int s = (o * channels + c) * inner;
                acc += bv is null ? SimdDriver.Reduce(av.AsSpan(s, inner), new SumReduce()) : SimdDriver.Dot(av.AsSpan(s, inner), bv.AsSpan(s, inner));
            }
            rv[c] = accumulate ? rv[c] + (float)acc : (float)acc;
        }
        if ((long)outer * channels * inner <= ElementwiseParallelMin || Threads == 1 || channels == 1)
            for (int c = 0; c < channels; c++) Channel(c);
        else ParallelFor(channels, Channel);
    }

    private static void NeedChannelView(Tensor t, int outer, int channels, int inner, string arg)
    {
        if (outer < 0 || channels < 0 || inner < 0)
            throw new ArgumentException($"View [outer, channels, inner] = [{outer}, {channels}, {inner}] has a negative extent.", arg);
        NeedElements(t, (long)outer * channels * inner, arg);
    }

    /// <summary>Runs body(row) for rows of <paramref name="rowLength"/> elements, in parallel groups when the total is large.</summary>
    private void RunRowGroups(int rows, int rowLength, Action<int> body)
    {
        if ((long)rows * rowLength <= ElementwiseParallelMin || Threads == 1 || rows == 1)
        {
            for (int r = 0; r < rows; r++) body(r);
            return;
        }
        int groups = Math.Min(rows, Threads * 4);
        int per = (rows + groups - 1) / groups;
        groups = (rows + per - 1) / per;
        ParallelFor(groups, g => { int end = Math.Min(rows, (g + 1) * per); for (int r = g * per; r < end; r++) body(r); });
    }

    private void MapChunked<TOp>(float[] x, float[] y, int length, TOp op) where TOp : struct, IUnaryOp =>
        RunChunked(length, (s, n) => SimdDriver.Map(x.AsSpan(s, n), y.AsSpan(s, n), op));

    private void Map2Chunked<TOp>(float[] x, float[] y, float[] z, int length, TOp op) where TOp : struct, IBinaryOp =>
        RunChunked(length, (s, n) => SimdDriver.Map2(x.AsSpan(s, n), y.AsSpan(s, n), z.AsSpan(s, n), op));

    private void Map3Chunked<TOp>(float[] x, float[] y, float[] z, float[] w, int length, TOp op) where TOp : struct, ITernaryOp =>
        RunChunked(length, (s, n) => SimdDriver.Map3(x.AsSpan(s, n), y.AsSpan(s, n), z.AsSpan(s, n), w.AsSpan(s, n), op));
}
