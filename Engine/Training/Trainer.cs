using System.Diagnostics;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;

namespace ConvEngine.Training;

// The training loop, written once for every model, loss and optimizer, through their public APIs only:
//   for epoch e = 1..E:
//     model.Train(); model.ReuseBuffers(true), loss.ReuseBuffers(true) (restored after the epoch); lr = optimizer.LearningRate
//     for each batch (x [N, C, H, W], y [N]):
//        optimizer.ZeroGrad(); logits = model.Forward(x); L = loss.Forward(logits, y)
//        model.Backward(loss.Backward()); [GradClip.ClipGradNorm(θ, maxNorm)]; optimizer.Step()
//        running loss/accuracy from the logits (host copy into a reused buffer: no per-step allocation here)
//     [test: model.Eval(); forward only; loss, accuracy, per-class accuracy, confusion matrix]
//     scheduler?.Step()  (once per epoch, after the epoch, as PyTorch); EpochCompleted(result); early stopping check
// Nothing here draws random numbers, so with a deterministic model, loader and device (same seed, same thread count)
// two runs produce bitwise the same weights.

/// <summary>
/// Trains a classification <see cref="Module"/> with <see cref="SoftmaxCrossEntropy"/> and an <see cref="Optimizer"/>:
/// epochs over a loader, progress reports, cancellation, evaluation on a test set, an optional learning-rate scheduler
/// stepped per epoch, optional gradient clipping and early stopping.
/// </summary>
public sealed class Trainer
{
    private readonly Parameter[] _parameters;
    private float[] _hostLogits = [];

    /// <summary>Creates a trainer.</summary>
    /// <param name="model">The model; its forward pass must return logits [N, K].</param>
    /// <param name="optimizer">The optimizer over (some of) the model's parameters.</param>
    /// <param name="loss">The loss (a new <see cref="SoftmaxCrossEntropy"/> when null).</param>
    public Trainer(Module model, Optimizer optimizer, SoftmaxCrossEntropy? loss = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        Model = model;
        Optimizer = optimizer;
        Loss = loss ?? new SoftmaxCrossEntropy();
        _parameters = model.Parameters().ToArray();
    }

    /// <summary>The model being trained.</summary>
    public Module Model { get; }

    /// <summary>The optimizer.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The loss.</summary>
    public SoftmaxCrossEntropy Loss { get; }

    /// <summary>An optional learning-rate scheduler, stepped once after every epoch.</summary>
    public LrScheduler? Scheduler { get; init; }

    /// <summary>When set, the global L2 norm of all parameter gradients is clipped to this value before each step.</summary>
    public double? MaxGradNorm { get; init; }

    /// <summary>Optional early stopping on a test metric (needs a test set).</summary>
    public EarlyStopping? EarlyStopping { get; init; }

    /// <summary>The least time between two progress reports within an epoch (zero: report every batch). The first and last batch are always reported.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// When true, a <see cref="Diagnostics.NumericGuard"/> watches every layer during <see cref="Fit"/> and stops training with
    /// <see cref="Diagnostics.NonFiniteException"/> naming the first layer whose output or input gradient holds NaN or Inf.
    /// Off by default: it scans every activation and gradient once more.
    /// </summary>
    public bool CheckNumerics { get; init; }

    /// <summary>The results of every epoch trained so far (also after a cancellation).</summary>
    public TrainingHistory History { get; } = new();

    /// <summary>Raised after each epoch (after evaluation and the scheduler step) with that epoch's result.</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>
    /// Trains for <paramref name="epochs"/> epochs (fewer with early stopping) and returns <see cref="History"/>.
    /// A second call continues: its epochs are numbered after those already in <see cref="History"/>. Cancellation is checked before every batch and throws <see cref="OperationCanceledException"/>; epochs finished
    /// before it stay in <see cref="History"/>.
    /// </summary>
    /// <param name="train">The training batches, enumerated once per epoch.</param>
    /// <param name="test">The test batches evaluated after each epoch, or null.</param>
    /// <param name="epochs">Epochs to run (at least 1).</param>
    /// <param name="progress">Receives progress reports during training, or null.</param>
    /// <param name="cancellationToken">Stops training between batches.</param>
    public TrainingHistory Fit(IBatchSource train, IBatchSource? test, int epochs,
                               IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (epochs < 1) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Epochs must be at least 1.");
        if (EarlyStopping is not null && test is null)
            throw new ArgumentException("Early stopping watches a test metric, so a test set is required.", nameof(test));
        if (EarlyStopping is { Patience: < 1 })
            throw new ArgumentException($"Early-stopping patience must be at least 1 but is {EarlyStopping.Patience}.", nameof(EarlyStopping));
        if (MaxGradNorm is double m && !(m > 0))
            throw new ArgumentException($"MaxGradNorm must be positive but is {m}.", nameof(MaxGradNorm));

        using var guard = CheckNumerics ? Model.Observe(new Diagnostics.NumericGuard()) : null;
        int first = History.Count + 1, last = History.Count + epochs;
        var clock = new TrainingClock(last, train.BatchCount);
        double best = double.NaN;
        int sinceBest = 0;
        History.StopReason = StopReason.Completed;
        for (int epoch = first; epoch <= last; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double lr = Optimizer.LearningRate;
            var (trainMetrics, trainSeconds) = TrainEpoch(train.Batches(epoch, cancellationToken), epoch, clock, progress, cancellationToken);
            var testResult = test is null ? null : Evaluate(test.Batches(epoch, cancellationToken), cancellationToken);
            Scheduler?.Step();
            var result = new EpochResult(epoch, trainMetrics.MeanLoss, trainMetrics.Accuracy, testResult, lr, sw.Elapsed.TotalSeconds,
                                         trainSeconds > 0 ? trainMetrics.Samples / trainSeconds : 0);
            History.Add(result);
            EpochCompleted?.Invoke(result);

            if (EarlyStopping is { } es && testResult is not null)
            {
                double v = es.Value(testResult);
                if (double.IsNaN(best) || es.IsBetter(v, best)) { best = v; sinceBest = 0; }
                else if (++sinceBest >= es.Patience && epoch < last)
                {
                    History.StopReason = StopReason.EarlyStopped;
                    break;
                }
            }
        }
        return History;
    }

    /// <summary>Evaluates the model on one pass over <paramref name="data"/> (its epoch-1 batches) in evaluation mode.</summary>
    /// <param name="data">The batches to evaluate.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    public EvaluationResult Evaluate(IBatchSource data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Evaluate(data.Batches(1, cancellationToken), cancellationToken);
    }

    /// <summary>Evaluates the model in evaluation mode (restoring its previous mode afterwards).</summary>
    /// <param name="data">The batches to evaluate.</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    public EvaluationResult Evaluate(IEnumerable<(Tensor Images, int[] Labels)> data, CancellationToken cancellationToken = default) =>
        Evaluate(Model, data, Loss, ref _hostLogits, cancellationToken);

    /// <summary>
    /// Evaluates <paramref name="model"/> with softmax cross-entropy in evaluation mode (restoring its previous mode afterwards);
    /// for checkpoints that are evaluated without training.
    /// </summary>
    /// <param name="model">The model; its forward pass must return logits [N, K].</param>
    /// <param name="data">The batches to evaluate (their epoch-1 pass).</param>
    /// <param name="cancellationToken">Checked before every batch.</param>
    public static EvaluationResult EvaluateModel(Module model, IBatchSource data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        float[] buffer = [];
        return Evaluate(model, data.Batches(1, cancellationToken), new SoftmaxCrossEntropy(), ref buffer, cancellationToken);
    }

    // Turns buffer reuse on for the model and the loss, returning what each had, for RestoreReuse.
    private static (bool Model, bool Loss) ReuseOn(Module model, SoftmaxCrossEntropy loss)
    {
        var was = (model.ReusesBuffers, loss.ReusesBuffers);
        model.ReuseBuffers(true);
        loss.ReuseBuffers(true);
        return was;
    }

    private static void RestoreReuse(Module model, SoftmaxCrossEntropy loss, (bool Model, bool Loss) was)
    {
        if (!was.Model) model.ReuseBuffers(false);
        if (!was.Loss) loss.ReuseBuffers(false);
    }

    private static EvaluationResult Evaluate(Module model, IEnumerable<(Tensor Images, int[] Labels)> data, SoftmaxCrossEntropy lossFn,
                                             ref float[] hostBuffer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.IsTraining;
        model.Eval();
        var reuse = ReuseOn(model, lossFn); // one batch at a time on this thread; the logits are copied to the host
        try
        {
            ClassificationMetrics? metrics = null;
            foreach (var (x, y) in data)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var logits = model.Forward(x);
                var (n, k) = CheckBatch(x, y, logits);
                double loss = lossFn.Forward(logits, y);
                metrics ??= new ClassificationMetrics(k);
                if (metrics.NumClasses != k) throw new InvalidOperationException($"The model returned {k} classes after {metrics.NumClasses} in an earlier batch.");
                metrics.Add(HostLogits(logits, ref hostBuffer), y, n, loss);
            }
            return metrics?.ToResult() ?? throw new ArgumentException("The evaluation set has no batches.", nameof(data));
        }
        finally
        {
            model.Train(wasTraining);
            RestoreReuse(model, lossFn, reuse);
        }
    }

    private (ClassificationMetrics Metrics, double Seconds) TrainEpoch(IEnumerable<(Tensor Images, int[] Labels)> train, int epoch, TrainingClock clock,
                                                                       IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        Model.Train();
        // The loop keeps no tensor of one step into the next (the logits are copied to the host), so the layers may write
        // every step into the same buffers: no fresh memory is touched per step. Restored afterwards.
        var reuse = ReuseOn(Model, Loss);
        try
        {
            return TrainEpochCore(train, epoch, clock, progress, ct);
        }
        finally
        {
            RestoreReuse(Model, Loss, reuse);
        }
    }

    private (ClassificationMetrics Metrics, double Seconds) TrainEpochCore(IEnumerable<(Tensor Images, int[] Labels)> train, int epoch, TrainingClock clock,
                                                                           IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        ClassificationMetrics? metrics = null;
        var sw = Stopwatch.StartNew();
        var lastReport = TimeSpan.MinValue;
        int batch = 0;
        foreach (var (x, y) in train)
        {
            ct.ThrowIfCancellationRequested();
            Optimizer.ZeroGrad();
            var logits = Model.Forward(x);
            var (n, k) = CheckBatch(x, y, logits);
            double loss = Loss.Forward(logits, y);
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"The training loss became {loss} at epoch {epoch}, batch {batch + 1}: training diverged (try a lower learning rate or gradient clipping).");
            Model.Backward(Loss.Backward());
            if (MaxGradNorm is double maxNorm) GradClip.ClipGradNorm(_parameters, (float)maxNorm);
            Optimizer.Step();

            metrics ??= new ClassificationMetrics(k);
            metrics.Add(HostLogits(logits, ref _hostLogits), y, n, loss);
            batch++;
            clock.BatchDone(sw.Elapsed);
            if (progress is not null)
            {
                var now = sw.Elapsed;
                bool last = clock.BatchesPerEpoch > 0 && batch >= clock.BatchesPerEpoch;
                if (batch == 1 || last || now - lastReport >= ProgressInterval)
                {
                    lastReport = now;
                    progress.Report(new TrainingProgress(epoch, clock.Epochs, batch, clock.BatchesPerEpoch, metrics.MeanLoss, metrics.Accuracy,
                                                         metrics.Samples / Math.Max(1e-9, now.TotalSeconds), clock.Eta(epoch, batch), Optimizer.LearningRate));
                }
            }
        }
        if (metrics is null) throw new ArgumentException("The training set has no batches.", nameof(train));
        clock.EpochDone(batch, sw.Elapsed);
        return (metrics, sw.Elapsed.TotalSeconds);
    }

    private static (int N, int K) CheckBatch(Tensor x, int[] labels, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(labels);
        int n = x.Dim(0);
        if (labels.Length != n)
            throw new ArgumentException($"A batch of {n} images came with {labels.Length} labels.", nameof(labels));
        if (logits.Rank != 2 || logits.Dim(0) != n)
            throw new InvalidOperationException($"The model must return logits [N, K] = [{n}, K] but returned {logits.ShapeString}.");
        return (n, logits.Dim(1));
    }

    /// <summary>The logits copied into a host buffer that is reused across batches.</summary>
    private static ReadOnlySpan<float> HostLogits(Tensor logits, ref float[] buffer)
    {
        if (buffer.Length < logits.Length) buffer = new float[logits.Length];
        var span = buffer.AsSpan(0, logits.Length);
        logits.Device.CopyToHost(logits.Buffer, 0, span);
        return span;
    }

    /// <summary>Time bookkeeping for the ETA: the average training time per batch so far times the batches left.</summary>
    private sealed class TrainingClock(int lastEpoch, int batchesPerEpoch)
    {
        private double _finishedSeconds;
        private int _finishedBatches;
        private double _currentSeconds;
        private int _currentBatches;

        public int Epochs { get; } = lastEpoch;
        public int BatchesPerEpoch { get; private set; } = batchesPerEpoch;

        public void BatchDone(TimeSpan epochElapsed)
        {
            _currentSeconds = epochElapsed.TotalSeconds;
            _currentBatches++;
        }

        public void EpochDone(int batches, TimeSpan elapsed)
        {
            _finishedSeconds += elapsed.TotalSeconds;
            _finishedBatches += batches;
            _currentSeconds = 0;
            _currentBatches = 0;
            if (BatchesPerEpoch == 0) BatchesPerEpoch = batches;
        }

        public TimeSpan Eta(int epoch, int batch)
        {
            int done = _finishedBatches + _currentBatches;
            if (BatchesPerEpoch == 0 || done == 0) return TimeSpan.Zero;
            double perBatch = (_finishedSeconds + _currentSeconds) / done;
            long left = (long)(Epochs - epoch) * BatchesPerEpoch + Math.Max(0, BatchesPerEpoch - batch);
            return TimeSpan.FromSeconds(perBatch * left);
        }
    }
}
