// CpuDevice loss, dropout and optimizer primitives. Optimizer updates use Vector<float> with exactly the naive twin's
// operation order (no fused multiply-add), so they match it to rounding; large tensors are split across threads.
// Softmax cross-entropy runs one row per work item and sums the per-row losses in row order (deterministic).
using System.Numerics;
using System.Runtime.InteropServices;
using ConvEngine.Kernels.Simd;

namespace ConvEngine;

public sealed partial class CpuDevice
{
    // SoftmaxCrossEntropy's labels (copied off the caller's span so work items can read them) and per-row losses.
    [ThreadStatic] private static int[]? t_sceLabels;
    [ThreadStatic] private static double[]? t_sceLoss;

    /// <inheritdoc/>
    public override double SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Tensor dLogits)
    {
        if (logits.Rank != 2)
            throw new ArgumentException($"Expected logits of shape [N, K] but got {logits.ShapeString}.", nameof(logits));
        int n = logits.Dim(0), k = logits.Dim(1);
        if (labels.Length != n)
            throw new ArgumentException($"Expected {n} labels (one per row of logits {logits.ShapeString}) but got {labels.Length}.", nameof(labels));
        NeedElements(dLogits, logits.Length, nameof(dLogits));
        for (int r = 0; r < n; r++)
            if ((uint)labels[r] >= (uint)k)
                throw new ArgumentException($"Label {r} must be in [0, {k}) but is {labels[r]}.", nameof(labels));
        if (n == 0) return 0;
        float[] x = A(logits), d = A(dLogits);
        int[] lab = Scratch.Get(ref t_sceLabels, n);
        labels.CopyTo(lab);
        double[] loss = Scratch.Get(ref t_sceLoss, n);
        var row = new SoftmaxRowBody(x, d, lab, loss, n, k);
        if ((long)n * k <= ElementwiseParallelMin || Threads == 1 || n == 1)
            for (int r = 0; r < n; r++) row.Invoke(r);
        else ParallelFor(n, row);
        double total = 0;
        for (int r = 0; r < n; r++) total += loss[r];
        return total / n;
    }

    /// <summary>Row r of softmax cross-entropy over [n, k] logits: its loss into loss[r], its gradient into d.</summary>
    private readonly struct SoftmaxRowBody(float[] x, float[] d, int[] lab, double[] loss, int n, int k) : IParallelBody
    {
        public void Invoke(int r)
        {
            var row = x.AsSpan(r * k, k);
            var drow = d.AsSpan(r * k, k);
            float max = float.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            // e_j = exp(x_j − max) into dLogits (vectorised exp), Σ e_j in double.
            SimdDriver.Map(row, drow, new AddScalarOp(-max));
            System.Numerics.Tensors.TensorPrimitives.Exp(drow, drow);
            double sum = SimdDriver.Reduce(drow, new SumReduce());
            loss[r] = Math.Log(sum) + max - row[lab[r]];
            SimdDriver.Map(drow, drow, new ScaleOp((float)(1.0 / (sum * n))));
            drow[lab[r]] -= 1f / n;
        }
    }

    /// <inheritdoc/>
    public override void DropoutMask(ulong seed, ulong stream, float p, float keepValue, Tensor mask)
    {
        RunChunked(mask.Length, new DropoutBody(A(mask), seed, stream, p, keepValue));
    }

    private readonly struct DropoutBody(float[] m, ulong seed, ulong stream, float p, float keepValue) : IRangeBody
    {
        public void Invoke(int start, int length)
        {
            for (int i = start; i < start + length; i++) m[i] = Rng.Uniform(seed, stream, (ulong)i) >= p ? keepValue : 0f;
        }
    }

    /// <inheritdoc/>
    public override void SgdStep(Tensor weight, Tensor grad, Tensor? velocity, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        NeedElements(grad, weight.Length, nameof(grad));
        if (momentum != 0)
        {
            if (velocity is null) throw new ArgumentException("A velocity tensor is required when momentum is non-zero (expected a tensor, got null).", nameof(velocity));
            NeedElements(velocity, weight.Length, nameof(velocity));
        }
        float[] w = A(weight), g = A(grad);
        float[]? vel = velocity is null ? null : A(velocity);
        RunChunked(weight.Length, new SgdBody(w, g, vel, lr, momentum, dampening, weightDecay, nesterov, firstStep));
    }

    private readonly struct SgdBody(float[] w, float[] g, float[]? vel, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
        : IRangeBody
    {
        public void Invoke(int s, int len) =>
            SgdChunk(w.AsSpan(s, len), g.AsSpan(s, len), vel is null || momentum == 0 ? default : vel.AsSpan(s, len), lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    private static void SgdChunk(Span<float> w, ReadOnlySpan<float> g, Span<float> v, float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var W = MemoryMarshal.Cast<float, Vector<float>>(w);
            var G = MemoryMarshal.Cast<float, Vector<float>>(g);
            var V = momentum != 0 ? MemoryMarshal.Cast<float, Vector<float>>(v) : default;
            for (int j = 0; j < W.Length; j++)
            {
                var d = G[j];
                if (weightDecay != 0) d += weightDecay * W[j];
                if (momentum != 0)
                {
                    var buf = firstStep ? d : momentum * V[j] + (1 - dampening) * d;
                    V[j] = buf;
                    d = nesterov ? d + momentum * buf : buf;
                }
                W[j] -= lr * d;
            }
            i = W.Length * Vector<float>.Count;
        }
        for (; i < w.Length; i++)
        {
            float d = g[i];
            if (weightDecay != 0) d += weightDecay * w[i];
            if (momentum != 0)
            {
                float buf = firstStep ? d : momentum * v[i] + (1 - dampening) * d;
                v[i] = buf;
                d = nesterov ? d + momentum * buf : buf;
            }
            w[i] -= lr * d;
        }
    }

    /// <inheritdoc/>
    public override void AdamStep(Tensor weight, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, int step)
    {
        NeedElements(grad, weight.Length, nameof(grad));
        NeedElements(m, weight.Length, nameof(m));
        NeedElements(v, weight.Length, nameof(v));
        if (step < 1) throw new ArgumentException($"Adam step is 1-based: expected step ≥ 1 but got {step}.", nameof(step));
        double bc1 = 1 - Math.Pow(beta1, step);
        double bc2 = 1 - Math.Pow(beta2, step);
        float stepSize = (float)(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        float[] w = A(weight), g = A(grad), ms = A(m), vs = A(v);
        RunChunked(weight.Length, new AdamBody(w, g, ms, vs, lr, beta1, beta2, eps, weightDecay, decoupled, stepSize, bc2Sqrt));
    }

    private readonly struct AdamBody(float[] w, float[] g, float[] ms, float[] vs, float lr, float beta1, float beta2, float eps,
                                     float weightDecay, bool decoupled, float stepSize, float bc2Sqrt) : IRangeBody
    {
        public void Invoke(int s, int len) =>
            AdamChunk(w.AsSpan(s, len), g.AsSpan(s, len), ms.AsSpan(s, len), vs.AsSpan(s, len), lr, beta1, beta2, eps, weightDecay, decoupled, stepSize, bc2Sqrt);
    }

    private static void AdamChunk(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float lr, float beta1, float beta2, float eps,
                                  float weightDecay, bool decoupled, float stepSize, float bc2Sqrt)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var W = MemoryMarshal.Cast<float, Vector<float>>(w);
            var G = MemoryMarshal.Cast<float, Vector<float>>(g);
            var M = MemoryMarshal.Cast<float, Vector<float>>(m);
            var V = MemoryMarshal.Cast<float, Vector<float>>(v);
            var decay = new Vector<float>(1 - lr * weightDecay);
            for (int j = 0; j < W.Length; j++)
            {
                var grad = G[j];
                if (decoupled) W[j] *= decay;
                else if (weightDecay != 0) grad += weightDecay * W[j];
                M[j] = beta1 * M[j] + (1 - beta1) * grad;
                V[j] = beta2 * V[j] + (1 - beta2) * grad * grad;
                var denom = Vector.SquareRoot(V[j]) / bc2Sqrt + new Vector<float>(eps);
                W[j] -= stepSize * M[j] / denom;
            }
            i = W.Length * Vector<float>.Count;
        }
        for (; i < w.Length; i++)
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
