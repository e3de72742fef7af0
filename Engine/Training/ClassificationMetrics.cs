namespace ConvEngine.Training;

// Accumulates classification metrics batch by batch on the host:
//   prediction ŷₙ = argmax_k logits[n, k] (the first maximum wins, as torch.argmax),
//   correct += [ŷₙ = yₙ], confusion[yₙ, ŷₙ] += 1, lossSum += batchMeanLoss · batchSize.
// No allocation per batch: the caller hands in the logits copied into a reused host buffer.

/// <summary>Running loss, accuracy and confusion matrix over batches of logits [N, K] and labels.</summary>
internal sealed class ClassificationMetrics
{
    private readonly int[,] _confusion;
    private double _lossSum;

    public ClassificationMetrics(int numClasses)
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "At least one class is needed.");
        NumClasses = numClasses;
        _confusion = new int[numClasses, numClasses];
    }

    public int NumClasses { get; }
    public int Samples { get; private set; }
    public int Correct { get; private set; }
    public double MeanLoss => Samples == 0 ? double.NaN : _lossSum / Samples;
    public double Accuracy => Samples == 0 ? double.NaN : (double)Correct / Samples;

    /// <summary>Adds a batch: <paramref name="logits"/> holds n rows of K values; <paramref name="meanLoss"/> is the batch's mean loss.</summary>
    public void Add(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int n, double meanLoss)
    {
        int k = NumClasses;
        if (logits.Length < n * k) throw new ArgumentException($"Expected at least {n * k} logits ({n} rows of {k}) but got {logits.Length}.", nameof(logits));
        if (labels.Length < n) throw new ArgumentException($"Expected {n} labels but got {labels.Length}.", nameof(labels));
        for (int i = 0; i < n; i++)
        {
            var row = logits.Slice(i * k, k);
            int best = 0;
            for (int j = 1; j < k; j++) if (row[j] > row[best]) best = j;
            int y = labels[i];
            if ((uint)y >= (uint)k) throw new ArgumentException($"Label {y} at index {i} is outside [0, {k}).", nameof(labels));
            _confusion[y, best]++;
            if (best == y) Correct++;
        }
        Samples += n;
        _lossSum += meanLoss * n;
    }

    /// <summary>Resets every count to zero.</summary>
    public void Reset()
    {
        Array.Clear(_confusion);
        Samples = 0; Correct = 0; _lossSum = 0;
    }

    /// <summary>A snapshot of the metrics so far.</summary>
    public EvaluationResult ToResult()
    {
        var perClass = new double[NumClasses];
        for (int c = 0; c < NumClasses; c++)
        {
            long total = 0;
            for (int j = 0; j < NumClasses; j++) total += _confusion[c, j];
            perClass[c] = total == 0 ? double.NaN : (double)_confusion[c, c] / total;
        }
        return new EvaluationResult(MeanLoss, Accuracy, Samples, perClass, (int[,])_confusion.Clone());
    }
}
