namespace ConvEngine.Reference;

/// <summary>Naive element-wise functions, their derivatives, and per-channel operations.</summary>
public static class NaiveElementwise
{
    /// <summary>f(x) for one element.</summary>
    public static float Apply(UnaryOp op, float alpha, float x) => op switch
    {
        UnaryOp.Identity => x,
        UnaryOp.Relu => x > 0 ? x : 0,
        UnaryOp.LeakyRelu => x > 0 ? x : alpha * x,
        UnaryOp.Elu => x > 0 ? x : alpha * (MathF.Exp(x) - 1),
        UnaryOp.Sigmoid => 1f / (1f + MathF.Exp(-x)),
        UnaryOp.Tanh => MathF.Tanh(x),
        UnaryOp.Scale => alpha * x,
        UnaryOp.Square => x * x,
        UnaryOp.RsqrtPlus => 1f / MathF.Sqrt(x + alpha),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op."),
    };

    /// <summary>f'(x) for one element, given x and y = f(x).</summary>
    public static float Derivative(UnaryOp op, float alpha, float x, float y) => op switch
    {
        UnaryOp.Identity => 1,
        UnaryOp.Relu => x > 0 ? 1 : 0,
        UnaryOp.LeakyRelu => x > 0 ? 1 : alpha,
        UnaryOp.Elu => x > 0 ? 1 : y + alpha,
        UnaryOp.Sigmoid => y * (1 - y),
        UnaryOp.Tanh => 1 - y * y,
        UnaryOp.Scale => alpha,
        UnaryOp.Square => 2 * x,
        UnaryOp.RsqrtPlus => -0.5f * y * y * y,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown unary op."),
    };

    /// <summary>y = f(x).</summary>
    public static void Unary(UnaryOp op, float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = Apply(op, alpha, x[i]);
    }

    /// <summary>dX = f'(x)·dY.</summary>
    public static void UnaryBackward(UnaryOp op, float alpha, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dY, Span<float> dX)
    {
        for (int i = 0; i < x.Length; i++) dX[i] = Derivative(op, alpha, x[i], y[i]) * dY[i];
    }

    /// <summary>y[o, c, i] += bias[c].</summary>
    public static void AddChannelBias(Span<float> y, ReadOnlySpan<float> bias, int outer, int channels, int inner)
    {
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++) y[(o * channels + c) * inner + i] += bias[c];
    }

    /// <summary>y[o, c, i] = x[o, c, i]·scale[c].</summary>
    public static void ChannelScale(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, int outer, int channels, int inner, Span<float> y)
    {
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++) { int idx = (o * channels + c) * inner + i; y[idx] = x[idx] * scale[c]; }
    }

    /// <summary>result[c] (+)= Σ a·b over outer and inner (b empty means 1), accumulated in double.</summary>
    public static void ChannelDot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int outer, int channels, int inner, Span<float> result, bool accumulate)
    {
        for (int c = 0; c < channels; c++)
        {
            double acc = 0;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int idx = (o * channels + c) * inner + i;
                    acc += b.IsEmpty ? a[idx] : (double)a[idx] * b[idx];
                }
            result[c] = accumulate ? result[c] + (float)acc : (float)acc;
        }
    }
}
