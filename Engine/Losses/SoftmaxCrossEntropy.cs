namespace ConvEngine.Losses;

// Softmax cross-entropy over logits z (N, K) with integer labels y ∈ [0, K), mean over the batch (PyTorch's
// nn.CrossEntropyLoss with reduction 'mean'):
//   L = (1/N)·Σₙ [ log Σⱼ exp(z[n, j]) − z[n, yₙ] ]      (log-sum-exp taken after subtracting the row maximum)
//   dL/dz = (softmax(z) − onehot(y)) / N                   (N, K)
// The device primitive computes both in one pass; Forward caches the gradient and Backward returns a copy of it.
// With ReuseBuffers on (as Module.ReuseBuffers), both tensors are kept and overwritten by the next call: nothing is allocated per step.

/// <summary>Mean softmax cross-entropy of logits [N, K] against integer class labels.</summary>
public sealed class SoftmaxCrossEntropy
{
    private Tensor? _gradient, _returned;

    /// <summary>Whether <see cref="Forward"/> and <see cref="Backward"/> overwrite tensors kept from the last call instead of allocating.</summary>
    public bool ReusesBuffers { get; private set; }

    /// <summary>
    /// Turns buffer reuse on or off (off by default, as in PyTorch). With reuse on, the tensor <see cref="Backward"/> returns
    /// is overwritten by the next Forward/Backward pair (the Trainer turns it on together with the model's
    /// <see cref="NN.Module.ReuseBuffers"/>).
    /// </summary>
    /// <param name="enabled">True to reuse the gradient tensors, false to allocate new ones on every call.</param>
    public void ReuseBuffers(bool enabled = true)
    {
        ReusesBuffers = enabled;
        if (!enabled) _returned = null;
    }

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
        var grad = ReusesBuffers && _gradient is { } g && ReferenceEquals(g.Device, logits.Device) && g.ShapeRef.AsSpan().SequenceEqual(logits.ShapeRef)
            ? g : logits.ZerosLike();
        double loss = logits.Device.SoftmaxCrossEntropy(logits, labels, grad);
        _gradient = grad;
        return loss;
    }

    /// <summary>dLoss/dLogits = (softmax − onehot)/N from the last <see cref="Forward"/>, as a new tensor [N, K] (a kept one with <see cref="ReuseBuffers"/>).</summary>
    public Tensor Backward()
    {
        var g = _gradient ?? throw new InvalidOperationException("SoftmaxCrossEntropy: Backward was called before Forward.");
        if (!ReusesBuffers) return g.Clone();
        if (_returned is null || !ReferenceEquals(_returned.Device, g.Device) || !_returned.ShapeRef.AsSpan().SequenceEqual(g.ShapeRef))
            _returned = g.ZerosLike();
        _returned.CopyFrom(g);
        return _returned;
    }

    /// <summary>Forward and Backward in one call.</summary>
    /// <param name="logits">Unnormalised scores [N, K].</param>
    /// <param name="labels">N class indices, each in [0, K).</param>
    public LossResult Compute(Tensor logits, int[] labels) => new(Forward(logits, labels), Backward());

    /// <inheritdoc/>
    public override string ToString() => "SoftmaxCrossEntropy(reduction=mean)";
}
