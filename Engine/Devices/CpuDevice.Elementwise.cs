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

    // The calling thread's partial sums of RunChunkedReduce (the work items write them, the caller adds them up).
    [ThreadStatic] private static double[]? t_reducePartials;

    /// <summary>Σ reduce(x) over fixed chunks of <see cref="ReduceChunkLength"/> elements, partials combined in order.</summary>
    private double RunChunkedReduce<TOp>(float[] x, int length, TOp op) where TOp : struct, IReduceOp
    {
        if (length <= ReduceChunkLength) return SimdDriver.Reduce(x.AsSpan(0, length), op);
        int chunks = (length + ReduceChunkLength - 1) / ReduceChunkLength;
        var partial = Scratch.Get(ref t_reducePartials, chunks);
        ParallelFor(chunks, new ReduceBody<TOp>(x, length, partial, op));
        double total = 0;
        for (int i = 0; i < chunks; i++) total += partial[i];
        return total;
    }

    /// <summary>Chunk i of <see cref="RunChunkedReduce{TOp}"/>: partial[i] = Σ reduce(x) over its <see cref="ReduceChunkLength"/> elements.</summary>
    private readonly struct ReduceBody<TOp>(float[] x, int length, double[] partial, TOp op) : IParallelBody where TOp : struct, IReduceOp
    {
        public void Invoke(int item)
        {
            int s = item * ReduceChunkLength;
            partial[item] = SimdDriver.Reduce(x.AsSpan(s, Math.Min(ReduceChunkLength, length - s)), op);
        }
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
        RunChunked(x.Length, new FillBody(A(x), value));
    }

    private readonly struct FillBody(float[] data, float value) : IRangeBody
    {
        public void Invoke(int start, int length) => data.AsSpan(start, length).Fill(value);
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
        if (inner == 1) RunRowGroups(outer, channels, new BiasAcrossBody(ys, bs, channels));
        else RunRowGroups(outer * channels, inner, new BiasRowBody(ys, bs, channels, inner));
    }

    /// <summary>
    /// <see cref="AddChannelBias"/> over rows [<paramref name="firstRow"/>, + <paramref name="rows"/>) of y viewed as
    /// (outer·channels, inner), on the calling thread (Conv2d's image-parallel chunks, each on its own pool thread).
    /// </summary>
    internal void AddChannelBiasRows(Tensor y, Tensor bias, int channels, int inner, int firstRow, int rows)
    {
        NeedLength(y, ((long)firstRow + rows) * inner, nameof(y));
        NeedElements(bias, channels, nameof(bias));
        var body = new BiasRowBody(A(y), A(bias), channels, inner);
        for (int r = firstRow; r < firstRow + rows; r++) body.Invoke(r);
    }

    /// <summary>Row o of a [outer, channels] matrix: y[o, :] += bias.</summary>
    private readonly struct BiasAcrossBody(float[] ys, float[] bs, int channels) : IParallelBody
    {
        public void Invoke(int o)
        {
            var row = ys.AsSpan(o * channels, channels);
            SimdDriver.Map2(row, bs.AsSpan(0, channels), row, new AddOp());
        }
    }

    /// <summary>Row r = (o, c) of [outer, channels, inner]: y[r, :] += bias[c].</summary>
    private readonly struct BiasRowBody(float[] ys, float[] bs, int channels, int inner) : IParallelBody
    {
        public void Invoke(int r)
        {
            var row = ys.AsSpan(r * inner, inner);
            SimdDriver.Map(row, row, new AddScalarOp(bs[r % channels]));
        }
    }

    /// <inheritdoc/>
    public override void ChannelScale(Tensor x, Tensor scale, int outer, int channels, int inner, Tensor y)
    {
        NeedChannelView(x, outer, channels, inner, nameof(x));
        NeedElements(scale, channels, nameof(scale));
        NeedElements(y, x.Length, nameof(y));
        float[] xs = A(x), ss = A(scale), ys = A(y);
        if (inner == 1) RunRowGroups(outer, channels, new ScaleAcrossBody(xs, ss, ys, channels));
        else RunRowGroups(outer * channels, inner, new ScaleRowBody(xs, ss, ys, channels, inner));
    }

    /// <summary>Row o of a [outer, channels] matrix: y[o, :] = x[o, :]·scale.</summary>
    private readonly struct ScaleAcrossBody(float[] xs, float[] ss, float[] ys, int channels) : IParallelBody
    {
        public void Invoke(int o) =>
            SimdDriver.Map2(xs.AsSpan(o * channels, channels), ss.AsSpan(0, channels), ys.AsSpan(o * channels, channels), new MultiplyOp());
    }

    /// <summary>Row r = (o, c) of [outer, channels, inner]: y[r, :] = x[r, :]·scale[c].</summary>
    private readonly struct ScaleRowBody(float[] xs, float[] ss, float[] ys, int channels, int inner) : IParallelBody
    {
        public void Invoke(int r) => SimdDriver.Map(xs.AsSpan(r * inner, inner), ys.AsSpan(r * inner, inner), new ScaleOp(ss[r % channels]));
    }

    // ChannelDot's column sums for [outer, channels] (serial, on the calling thread).
    [ThreadStatic] private static double[]? t_channelDotSums;

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
            var acc = Scratch.Get(ref t_channelDotSums, channels);
            Array.Clear(acc, 0, channels);
            for (int o = 0; o < outer; o++)
            {
                int row = o * channels;
                if (bv is null) for (int c = 0; c < channels; c++) acc[c] += av[row + c];
                else for (int c = 0; c < channels; c++) acc[c] += (double)av[row + c] * bv[row + c];
            }
            for (int c = 0; c < channels; c++) rv[c] = accumulate ? rv[c] + (float)acc[c] : (float)acc[c];
            return;
        }
        var channel = new ChannelDotBody(av, bv, rv, outer, channels, inner, accumulate);
        if ((long)outer * channels * inner <= ElementwiseParallelMin || Threads == 1 || channels == 1)
            for (int c = 0; c < channels; c++) channel.Invoke(c);
        else ParallelFor(channels, channel);
    }

    /// <summary>Channel c of ChannelDot on [outer, channels, inner]: Σ over its rows (in o order, each row reduced by SIMD), in double.</summary>
    private readonly struct ChannelDotBody(float[] av, float[]? bv, float[] rv, int outer, int channels, int inner, bool accumulate) : IParallelBody
    {
        public void Invoke(int c)
        {
            double acc = 0;
            for (int o = 0; o < outer; o++)
            {
                int s = (o * channels + c) * inner;
                acc += bv is null ? SimdDriver.Reduce(av.AsSpan(s, inner), new SumReduce()) : SimdDriver.Dot(av.AsSpan(s, inner), bv.AsSpan(s, inner));
            }
            rv[c] = accumulate ? rv[c] + (float)acc : (float)acc;
        }
    }

    private static void NeedChannelView(Tensor t, int outer, int channels, int inner, string arg)
    {
        if (outer < 0 || channels < 0 || inner < 0)
            throw new ArgumentException($"View [outer, channels, inner] = [{outer}, {channels}, {inner}] has a negative extent.", arg);
        NeedElements(t, (long)outer * channels * inner, arg);
    }

    /// <summary>Runs body.Invoke(row) for rows of <paramref name="rowLength"/> elements, in parallel groups when the total is large.</summary>
    private void RunRowGroups<T>(int rows, int rowLength, in T body) where T : struct, IParallelBody
    {
        if ((long)rows * rowLength <= ElementwiseParallelMin || Threads == 1 || rows == 1)
        {
            for (int r = 0; r < rows; r++) body.Invoke(r);
            return;
        }
        int groups = Math.Min(rows, Threads * 4);
        int per = (rows + groups - 1) / groups;
        groups = (rows + per - 1) / per;
        ParallelFor(groups, new RowGroupBody<T>(body, rows, per));
    }

    /// <summary>Group g of <see cref="RunRowGroups{T}"/>: rows [g·per, min((g+1)·per, rows)) in order.</summary>
    private readonly struct RowGroupBody<T>(T body, int rows, int per) : IParallelBody where T : struct, IParallelBody
    {
        public void Invoke(int g)
        {
            int end = Math.Min(rows, (g + 1) * per);
            for (int r = g * per; r < end; r++) body.Invoke(r);
        }
    }

    private void MapChunked<TOp>(float[] x, float[] y, int length, TOp op) where TOp : struct, IUnaryOp =>
        RunChunked(length, new MapBody<TOp>(x, y, op));

    private void Map2Chunked<TOp>(float[] x, float[] y, float[] z, int length, TOp op) where TOp : struct, IBinaryOp =>
        RunChunked(length, new Map2Body<TOp>(x, y, z, op));

    private void Map3Chunked<TOp>(float[] x, float[] y, float[] z, float[] w, int length, TOp op) where TOp : struct, ITernaryOp =>
        RunChunked(length, new Map3Body<TOp>(x, y, z, w, op));

    private readonly struct MapBody<TOp>(float[] x, float[] y, TOp op) : IRangeBody where TOp : struct, IUnaryOp
    {
        public void Invoke(int start, int length) => SimdDriver.Map(x.AsSpan(start, length), y.AsSpan(start, length), op);
    }

    private readonly struct Map2Body<TOp>(float[] x, float[] y, float[] z, TOp op) : IRangeBody where TOp : struct, IBinaryOp
    {
        public void Invoke(int start, int length) => SimdDriver.Map2(x.AsSpan(start, length), y.AsSpan(start, length), z.AsSpan(start, length), op);
    }

    private readonly struct Map3Body<TOp>(float[] x, float[] y, float[] z, float[] w, TOp op) : IRangeBody where TOp : struct, ITernaryOp
    {
        public void Invoke(int start, int length) =>
            SimdDriver.Map3(x.AsSpan(start, length), y.AsSpan(start, length), z.AsSpan(start, length), w.AsSpan(start, length), op);
    }
}
