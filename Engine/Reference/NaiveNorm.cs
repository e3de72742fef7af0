namespace ConvEngine.Reference;

/// <summary>Naive batch normalisation over x viewed as [outer, channels, inner].</summary>
public static class NaiveNorm
{
    /// <summary>Per-channel mean and biased variance (two passes in double).</summary>
    public static void Statistics(ReadOnlySpan<float> x, int outer, int channels, int inner, Span<float> mean, Span<float> variance)
    {
        int m = outer * inner;
        for (int c = 0; c < channels; c++)
        {
            double s = 0;
            for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) s += x[(o * channels + c) * inner + i];
            double mu = s / m, v = 0;
            for (int o = 0; o < outer; o++) for (int i = 0; i < inner; i++) { double d = x[(o * channels + c) * inner + i] - mu; v += d * d; }
            mean[c] = (float)mu;
            variance[c] = (float)(v / m);
        }
    }

    /// <summary>y = (x − mean)·invStd·gamma + beta.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
                               int outer, int channels, int inner, Span<float> y)
    {
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++)
                {
                    int idx = (o * channels + c) * inner + i;
                    y[idx] = (x[idx] - mean[c]) * invStd[c] * gamma[c] + beta[c];
                }
    }

    /// <summary>Backward; see <see cref="IDevice.BatchNormBackward"/>.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dY, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, ReadOnlySpan<float> gamma,
                                int outer, int channels, int inner, bool batchStatistics, Span<float> dX, Span<float> dGamma, Span<float> dBeta)
    {
        int m = outer * inner;
        for (int c = 0; c < channels; c++)
        {
            double sumDy = 0, sumDyXhat = 0;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int idx = (o * channels + c) * inner + i;
                    double xhat = (x[idx] - mean[c]) * invStd[c];
                    sumDy += dY[idx];
                    sumDyXhat += dY[idx] * xhat;
                }
            dGamma[c] += (float)sumDyXhat;
            dBeta[c] += (float)sumDy;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int idx = (o * channels + c) * inner + i;
                    if (batchStatistics)
                    {
                        double xhat = (x[idx] - mean[c]) * invStd[c];
                        // g = dY·gamma, Σg = gamma·ΣdY, Σ(g·x̂) = gamma·Σ(dY·x̂)
                        dX[idx] = (float)(gamma[c] * invStd[c] / m * (m * (double)dY[idx] - sumDy - xhat * sumDyXhat));
                    }
                    else dX[idx] = dY[idx] * gamma[c] * invStd[c];
                }
        }
    }
}
