namespace ConvEngine.Reference;

/// <summary>Naive softmax cross-entropy, dropout masks and optimizer updates.</summary>
public static class NaiveLossOptim
{
    /// <summary>Mean softmax cross-entropy over logits [N, K]; writes dLogits = (p − y)/N.</summary>
    public static double SoftmaxCrossEntropy(ReadOnlySpan<float> logits, int n, int k, ReadOnlySpan<int> labels, Span<float> dLogits)
    {
        double total = 0;
        for (int r = 0; r < n; r++)
        {
            var row = logits.Slice(r * k, k);
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++) max = Math.Max(max, row[j]);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.Exp(row[j] - max);
            double logSum = Math.Log(sum) + max;
            total += logSum - row[labels[r]];
            for (int j = 0; j < k; j++)
            {
                double p = Math.Exp(row[j] - logSum);
                dLogits[r * k + j] = (float)((p - (j == labels[r] ? 1 : 0)) / n);
            }
        }
        return n == 0 ? 0 : total / n;
    }

    /// <summary>mask[i] = keepValue if <see cref="Rng.Uniform"/>(seed, stream, i) ≥ p else 0.</summary>
    public static void DropoutMask(ulong seed, ulong stream, float p, float keepValue, Span<float> mask)
    {
        for (int i = 0; i < mask.Length; i++) mask[i] = Rng.Uniform(seed, stream, (ulong)i) >= p ? keepValue : 0f;
    }

    /// <summary>PyTorch's SGD: d = g + wd·w; buf = first ? d : μ·buf + (1 − dampening)·d; d = nesterov ? d + μ·buf : buf; w −= lr·d.</summary>
    public static void SgdStep(Span<float> w, ReadOnlySpan<float> g, Span<float> velocity, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        for (int i = 0; i < w.Length; i++)
        {
            float d = g[i];
            if (weightDecay != 0) d += weightDecay * w[i];
            if (momentum != 0)
            {
                float buf = firstStep ? d : momentum * velocity[i] + (1 - dampening) * d;
                velocity[i] = buf;
                d = nesterov ? d + momentum * buf : buf;
            }
            w[i] -= lr * d;
        }
    }

    /// <summary>PyTorch's Adam / AdamW (decoupled weight decay) update at 1-based step t.</summary>
    public static void AdamStep(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, int step)
    {
        double bc1 = 1 - Math.Pow(beta1, step);
        double bc2 = 1 - Math.Pow(beta2, step);
        float stepSize = (float)(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        for (int i = 0; i < w.Length; i++)
        {
            float grad = g[i];
            if (decoupled) w[i] *= 1 - lr * weightDecay;
            else if (weightDecay != 0) grad += weightDecay * w[i];
            m[i] = beta1 * m[i] + (1 - beta1) * grad;
            v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
            float denom = MathF.Sqrt(v[i]) / bc2Sqrt + eps;
            w[i] -= stepSize * m[i] / denom;
        }
    }
}
