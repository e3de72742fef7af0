namespace ConvEngine.Training;

/// <summary>A progress report during an epoch, sent through <see cref="IProgress{T}"/> by <see cref="Trainer"/>.</summary>
/// <param name="Epoch">The current epoch, 1-based.</param>
/// <param name="Epochs">The last epoch planned (the number of epochs, unless <see cref="Trainer.Fit"/> continues an earlier run).</param>
/// <param name="Batch">Batches finished in this epoch (1-based: 1 after the first batch).</param>
/// <param name="BatchesPerEpoch">Batches in one epoch (0 when the loader cannot tell).</param>
/// <param name="RunningLoss">Mean training loss over the batches finished so far in this epoch (weighted by batch size).</param>
/// <param name="RunningAccuracy">Fraction of training samples classified correctly so far in this epoch, in [0, 1].</param>
/// <param name="SamplesPerSecond">Training throughput over this epoch so far.</param>
/// <param name="Eta">Estimated time until the last planned epoch ends (training only; evaluation not included).</param>
/// <param name="LearningRate">The optimizer's learning rate for this epoch.</param>
public readonly record struct TrainingProgress(int Epoch, int Epochs, int Batch, int BatchesPerEpoch, double RunningLoss,
    double RunningAccuracy, double SamplesPerSecond, TimeSpan Eta, double LearningRate);

/// <summary>Classification metrics over a data set, computed in evaluation mode.</summary>
/// <param name="Loss">Mean loss per sample.</param>
/// <param name="Accuracy">Fraction of samples whose arg-max prediction equals the label, in [0, 1].</param>
/// <param name="Samples">Number of samples evaluated.</param>
/// <param name="PerClassAccuracy">Recall of each class (correct / samples of that class); NaN for a class with no samples.</param>
/// <param name="ConfusionMatrix">Counts [K, K]: row = true label, column = predicted label.</param>
public sealed record EvaluationResult(double Loss, double Accuracy, int Samples, double[] PerClassAccuracy, int[,] ConfusionMatrix)
{
    /// <summary>The number of classes K.</summary>
    public int NumClasses => ConfusionMatrix.GetLength(0);
}

/// <summary>What happened in one epoch: training metrics, the optional test evaluation, the learning rate and the time.</summary>
/// <param name="Epoch">The epoch, 1-based.</param>
/// <param name="TrainLoss">Mean training loss per sample over the epoch (measured in training mode while the weights changed).</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch, in [0, 1].</param>
/// <param name="Test">The test evaluation after the epoch, or null when there is no test set.</param>
/// <param name="LearningRate">The learning rate used during the epoch.</param>
/// <param name="Seconds">Wall time of the epoch including evaluation.</param>
/// <param name="TrainSamplesPerSecond">Training throughput (forward, backward and update) in samples per second.</param>
public sealed record EpochResult(int Epoch, double TrainLoss, double TrainAccuracy, EvaluationResult? Test, double LearningRate,
    double Seconds, double TrainSamplesPerSecond);

/// <summary>Which test metric early stopping watches.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>Test accuracy; higher is better.</summary>
    TestAccuracy,
    /// <summary>Test loss; lower is better.</summary>
    TestLoss,
}

/// <summary>
/// Stops training when the watched test metric has not improved by more than <paramref name="MinDelta"/> for
/// <paramref name="Patience"/> consecutive epochs. Needs a test set.
/// </summary>
/// <param name="Patience">Epochs without improvement tolerated before stopping (at least 1).</param>
/// <param name="Metric">The metric to watch.</param>
/// <param name="MinDelta">The smallest change that counts as an improvement (accuracy as a fraction, loss in loss units).</param>
public sealed record EarlyStopping(int Patience, EarlyStoppingMetric Metric = EarlyStoppingMetric.TestAccuracy, double MinDelta = 0)
{
    internal bool IsBetter(double candidate, double best) =>
        Metric == EarlyStoppingMetric.TestAccuracy ? candidate > best + MinDelta : candidate < best - MinDelta;

    internal double Value(EvaluationResult r) => Metric == EarlyStoppingMetric.TestAccuracy ? r.Accuracy : r.Loss;
}

/// <summary>Why <see cref="Trainer.Fit"/> returned.</summary>
public enum StopReason
{
    /// <summary>All planned epochs ran.</summary>
    Completed,
    /// <summary>Early stopping ended training.</summary>
    EarlyStopped,
}

/// <summary>The epoch results of a training run, in order.</summary>
public sealed class TrainingHistory : IReadOnlyList<EpochResult>
{
    private readonly List<EpochResult> _epochs = [];

    /// <summary>The number of epochs recorded.</summary>
    public int Count => _epochs.Count;

    /// <summary>The result of the epoch at <paramref name="index"/> (0-based).</summary>
    public EpochResult this[int index] => _epochs[index];

    /// <summary>The last epoch's result, or null before the first epoch ends.</summary>
    public EpochResult? Last => _epochs.Count == 0 ? null : _epochs[^1];

    /// <summary>The epoch with the highest test accuracy, or null when no epoch was evaluated.</summary>
    public EpochResult? BestByTestAccuracy => _epochs.Where(e => e.Test is not null).MaxBy(e => e.Test!.Accuracy);

    /// <summary>Why training ended.</summary>
    public StopReason StopReason { get; internal set; } = StopReason.Completed;

    internal void Add(EpochResult result) => _epochs.Add(result);

    /// <inheritdoc/>
    public IEnumerator<EpochResult> GetEnumerator() => _epochs.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
