namespace ConvEngine.Losses;

// Softmax cross-entropy over logits z (N, K) with integer labels y ∈ [0, K), mean over the batch (PyTorch's
// nn.CrossEntropyLoss with reduction 'mean'):
//   L = (1/N)·Σₙ [ log Σⱼ exp(z[n, j]) − z[n, yₙ] ]      (log-sum-exp taken after subtracting the row maximum)
//   dL/dz = (softmax(z) − onehot(y)) / N                   (N, K)
// The device primitive computes both in one pass; Forward caches the gradient and Backward returns a copy of it.

/// <summary>Mean softmax cross-entropy of logits [N, K] against integer class labels.</summary>
public sealed class SoftmaxCrossEntropy
{
    private Tensor? _gradient;

    /// <summary>Returns the mean loss and caches dLoss/dLogits for <see cref="Backward"/>.</summary>
    /// <param name="logits">Unnormalised scores [N, K], N ≥ 1, K ≥ 1.</param>
    /// <param name="labels">N class indices, each in [0, K).</param>
    public double Forward(Tensor logits, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        ShapeUtil.RequireRank(logits, 2, nameof(logits), "[N, K]");
        int n = logits.Dim(0), k = logits.Dim(1);
        if (n == 0 || k == 0)
            throw new ArgumentException($"Expected logits [N, K] with N ≥ 1 and K ≥ 1 but got shape {logits.ShapeString}.", nameof(logits));
        if (labels.Length != n)
            throw new ArgumentException($"Expected {n} labels (one per row of logits {logits.ShapeString}) but got {labels.Length}.", nameof(labels));
        for (int i = 0; i < n; i++)
            if ((uint)labels[i] >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"labels[{i}] = {labels[i]} is not a class index in [0, {k}) for logits {logits.ShapeString}.");
        var grad = logits.ZerosLike();
        double loss = logits.Device.SoftmaxCrossEntropy(logits, labels, grad);
        _gradient = grad;
        return loss;
    }

    /// <summary>dLoss/dLogits = (softmax − onehot)/N from the last <see cref="Forward"/>, as a new tensor [N, K].</summary>
    public Tensor Backward() =>
        (_gradient ?? throw new InvalidOperationException("SoftmaxCrossEntropy: Backward was called before Forward.")).Clone();

    /// <summary>Forward and Backward in one call.</summary>
    /// <param name="logits">Unnormalised scores [N, K].</param>
    /// <param name="labels">N class indices, each in [0, K).</param>
    public LossResult Compute(Tensor logits, int[] labels) => new(Forward(logits, labels), Backward());

    /// <inheritdoc/>
    public override string ToString() => "SoftmaxCrossEntropy(reduction=mean)";
}
