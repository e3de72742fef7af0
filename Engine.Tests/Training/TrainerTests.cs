using ConvEngine.Data;
using ConvEngine.NN;
using ConvEngine.Optim;
using ConvEngine.Training;
using NUnit.Framework;

namespace ConvEngine.Tests.Training;

public class TrainerTests
{
    /// <summary>Collects reports synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class ListProgress<T> : IProgress<T>
    {
        public List<T> Items { get; } = [];
        public Action<T>? OnReport { get; init; }
        public void Report(T value) { Items.Add(value); OnReport?.Invoke(value); }
    }

    /// <summary>Records the training mode seen by each Forward call; identity otherwise.</summary>
    private sealed class ModeProbe : Module
    {
        public List<bool> Modes { get; } = [];
        protected override Tensor ForwardCore(Tensor x) { Modes.Add(IsTraining); return x; }
        protected override Tensor BackwardCore(Tensor dY) => dY;
    }

    private static Module TinyModel(IDevice device, int seed, int inFeatures, int classes) =>
        new Sequential(new Flatten(), new Linear(inFeatures, 16, device: device, seed: seed), new ReLU(), new Linear(16, classes, device: device, seed: seed + 1));

    private static IBatchSource Data(IDevice device, int count, int batch, int seed) =>
        BatchSource.FromList(TrainingTestData.Batches(device, count, batch, seed));

    private static float[][] Weights(Module m) => m.Parameters().Select(p => p.Value.ToArray()).ToArray();

    [Test]
    public void SameSeedAndThreadsGiveBitwiseIdenticalWeights()
    {
        // A tiny CNN on a small Shapes set through the real DataLoader (seeded shuffling, prefetch thread), two threads.
        var train = Shapes.Generate(96, seed: 1);
        var test = Shapes.Generate(40, seed: 2);
        float[][] Run(out TrainingHistory history)
        {
            var device = new CpuDevice(threads: 2);
            var model = new Sequential(new Conv2d(1, 4, 3, device: device, seed: 11), new ReLU(), new MaxPool2d(2), new Flatten(),
                                       new Linear(4 * 13 * 13, Shapes.ClassNames.Count, device: device, seed: 12));
            var optimizer = new Adam(model.Parameters(), lr: 3e-3f);
            var trainer = new Trainer(model, optimizer) { Scheduler = new CosineAnnealingLR(optimizer, tMax: 3) };
            using var trainLoader = new DataLoader(train, 16, new DataLoaderOptions { Seed = 5, Device = device, Mean = [0.2f], Std = [0.3f] });
            using var testLoader = new DataLoader(test, 16, new DataLoaderOptions { Shuffle = false, Device = device, Mean = [0.2f], Std = [0.3f] });
            history = trainer.Fit(BatchSource.From(trainLoader), BatchSource.From(testLoader), epochs: 3);
            return Weights(model);
        }
        var a = Run(out var ha);
        var b = Run(out var hb);
        Assert.That(a, Has.Length.EqualTo(b.Length));
        for (int i = 0; i < a.Length; i++)
        {
            var ai = a[i].Select(BitConverter.SingleToInt32Bits).ToArray();
            var bi = b[i].Select(BitConverter.SingleToInt32Bits).ToArray();
            Assert.That(ai, Is.EqualTo(bi), $"parameter {i} differs between two identical runs");
        }
        Assert.That(ha.Select(e => e.TrainLoss), Is.EqualTo(hb.Select(e => e.TrainLoss)), "the losses agree bitwise too");
        Assert.That(ha[^1].TrainLoss, Is.LessThan(ha[0].TrainLoss), "training happened, so the comparison is not vacuous");
    }

    [Test]
    public void DataLoaderSourceYieldsTheLoadersEpochs()
    {
        var data = Shapes.Generate(50, seed: 3);
        using var loader = new DataLoader(data, 16, new DataLoaderOptions { Seed = 4, Prefetch = 2 });
        var source = BatchSource.From(loader);
        Assert.That(source.BatchCount, Is.EqualTo(4));
        foreach (int epoch in new[] { 1, 2 })
        {
            var batches = source.Batches(epoch, CancellationToken.None).ToList();
            Assert.That(batches.Select(b => b.Labels.Length), Is.EqualTo(new[] { 16, 16, 16, 2 }));
            var expected = loader.Order(epoch).Select(data.Label);
            Assert.That(batches.SelectMany(b => b.Labels), Is.EqualTo(expected), $"epoch {epoch} follows the loader's order");
        }
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => source.Batches(1, cts.Token).ToList());
    }

    [Test]
    public void TrainingLowersTheLossAndRecordsHistory()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 1, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f));
        var seen = new List<EpochResult>();
        trainer.EpochCompleted += seen.Add;
        var history = trainer.Fit(Data(device, 128, 16, seed: 5), Data(device, 64, 32, seed: 6), epochs: 6);
        Assert.That(history, Has.Count.EqualTo(6));
        Assert.That(seen, Is.EqualTo(history.ToList()));
        Assert.That(history.Select(e => e.Epoch), Is.EqualTo(Enumerable.Range(1, 6)));
        Assert.That(history[^1].TrainLoss, Is.LessThan(history[0].TrainLoss));
        Assert.That(history[^1].Test!.Accuracy, Is.GreaterThan(0.6), "the synthetic classes are easy to separate");
        Assert.That(history.StopReason, Is.EqualTo(StopReason.Completed));
        Assert.That(history.All(e => e.Seconds > 0 && e.TrainSamplesPerSecond > 0 && e.LearningRate == 0.1f));
    }

    [Test]
    public void ASecondFitContinuesTheEpochNumbering()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 9, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.05f)) { ProgressInterval = TimeSpan.Zero };
        trainer.Fit(Data(device, 16, 8, 1), null, epochs: 2);
        var progress = new ListProgress<TrainingProgress>();
        var history = trainer.Fit(Data(device, 16, 8, 1), null, epochs: 2, progress);
        Assert.That(history.Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(progress.Items.Select(p => (p.Epoch, p.Epochs)), Is.EqualTo(new[] { (3, 4), (3, 4), (4, 4), (4, 4) }));
        Assert.That(progress.Items[^1].Eta, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void ProgressReportsEveryBatchWithConsistentNumbers()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 2, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.05f)) { ProgressInterval = TimeSpan.Zero };
        var progress = new ListProgress<TrainingProgress>();
        var history = trainer.Fit(Data(device, 50, 8, seed: 1), null, epochs: 2, progress);
        // 50 samples in batches of 8: 7 batches (the last has 2).
        Assert.That(progress.Items, Has.Count.EqualTo(14));
        Assert.That(progress.Items.Select(p => (p.Epoch, p.Batch)),
            Is.EqualTo(Enumerable.Range(1, 2).SelectMany(e => Enumerable.Range(1, 7).Select(b => (e, b)))));
        Assert.That(progress.Items.All(p => p.BatchesPerEpoch == 7 && p.Epochs == 2 && p.LearningRate == 0.05f));
        Assert.That(progress.Items.All(p => p.RunningAccuracy is >= 0 and <= 1 && double.IsFinite(p.RunningLoss) && p.SamplesPerSecond > 0));
        // The last report of each epoch carries the epoch's training loss and accuracy.
        for (int e = 0; e < 2; e++)
        {
            var last = progress.Items[e * 7 + 6];
            Assert.That(last.RunningLoss, Is.EqualTo(history[e].TrainLoss).Within(1e-12));
            Assert.That(last.RunningAccuracy, Is.EqualTo(history[e].TrainAccuracy).Within(1e-12));
            Assert.That(last.Eta, e == 1 ? Is.EqualTo(TimeSpan.Zero) : Is.GreaterThan(TimeSpan.Zero));
        }
        Assert.That(history.Test(), Is.Null);
    }

    [Test]
    public void CancellationStopsBetweenBatchesAndKeepsFinishedEpochs()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 3, TrainingTestData.Features, TrainingTestData.Classes);
        using var cts = new CancellationTokenSource();
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.05f)) { ProgressInterval = TimeSpan.Zero };
        var progress = new ListProgress<TrainingProgress> { OnReport = p => { if (p.Epoch == 2 && p.Batch == 3) cts.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => trainer.Fit(Data(device, 64, 8, seed: 2), null, epochs: 5, progress, cts.Token));
        Assert.That(trainer.History, Has.Count.EqualTo(1), "epoch 1 finished before the cancellation");
        Assert.That(progress.Items[^1], Has.Property("Epoch").EqualTo(2).And.Property("Batch").EqualTo(3), "no batch ran after the cancel");
    }

    [Test]
    public void EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 4, TrainingTestData.Features, TrainingTestData.Classes);
        // lr = 0: the weights never change, so the test accuracy never improves after epoch 1.
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.0f)) { EarlyStopping = new EarlyStopping(Patience: 2) };
        var history = trainer.Fit(Data(device, 32, 8, seed: 1), Data(device, 32, 8, seed: 2), epochs: 10);
        Assert.That(history, Has.Count.EqualTo(3));
        Assert.That(history.StopReason, Is.EqualTo(StopReason.EarlyStopped));

        // With a loss criterion and learning on, it runs on while the test loss keeps falling.
        var model2 = TinyModel(device, 4, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer2 = new Trainer(model2, new Sgd(model2.Parameters(), lr: 0.02f))
        { EarlyStopping = new EarlyStopping(Patience: 1, Metric: EarlyStoppingMetric.TestLoss) };
        var h2 = trainer2.Fit(Data(device, 64, 8, seed: 1), Data(device, 64, 8, seed: 1), epochs: 3);
        Assert.That(h2, Has.Count.EqualTo(3));
        Assert.That(h2.StopReason, Is.EqualTo(StopReason.Completed));
    }

    [Test]
    public void EarlyStoppingWithoutTestSetIsRejected()
    {
        var model = TinyModel(CpuDevice.Default, 4, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.1f)) { EarlyStopping = new EarlyStopping(2) };
        var ex = Assert.Throws<ArgumentException>(() => trainer.Fit(Data(CpuDevice.Default, 16, 8, 1), null, 2));
        Assert.That(ex!.ParamName, Is.EqualTo("test"));
    }

    [Test]
    public void TrainerSetsTrainModeForTrainingAndEvalModeForEvaluation()
    {
        var device = new CpuDevice(threads: 1);
        var probe = new ModeProbe();
        var model = new Sequential(new Flatten(), probe, new Linear(TrainingTestData.Features, TrainingTestData.Classes, device: device, seed: 1));
        model.Eval(); // the trainer must switch it back on for training
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 0.01f));
        trainer.Fit(Data(device, 24, 8, 1), Data(device, 16, 8, 2), epochs: 2);
        // Per epoch: 3 training batches (train mode) then 2 test batches (eval mode).
        bool[] epochPattern = [true, true, true, false, false];
        Assert.That(probe.Modes, Is.EqualTo(epochPattern.Concat(epochPattern)));
    }

    [Test]
    public void GradientClippingBoundsTheUpdate()
    {
        // One SGD step with lr 1 moves the parameters by exactly the (clipped) gradient: its norm must be ≤ maxNorm.
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 5, TrainingTestData.Features, TrainingTestData.Classes);
        var before = Weights(model);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 1.0f)) { MaxGradNorm = 1e-3 };
        trainer.Fit(Data(device, 8, 8, 1), null, epochs: 1);
        var after = Weights(model);
        double sq = 0;
        for (int i = 0; i < before.Length; i++)
            for (int j = 0; j < before[i].Length; j++) sq += Math.Pow(after[i][j] - before[i][j], 2);
        Assert.That(Math.Sqrt(sq), Is.LessThanOrEqualTo(1e-3 * 1.001).And.GreaterThan(0));
    }

    [Test]
    public void SchedulerIsSteppedOncePerEpochAfterTheEpoch()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 8, TrainingTestData.Features, TrainingTestData.Classes);
        var optimizer = new Sgd(model.Parameters(), lr: 0.1f);
        var schedule = new StepLR(optimizer, stepSize: 2, gamma: 0.5f);
        var trainer = new Trainer(model, optimizer) { Scheduler = schedule, ProgressInterval = TimeSpan.Zero };
        var progress = new ListProgress<TrainingProgress>();
        var history = trainer.Fit(Data(device, 16, 8, 1), null, epochs: 5, progress);
        // Epoch e (1-based) trains with the rate of schedule epoch e − 1: 0.1, 0.1, 0.05, 0.05, 0.025.
        var expected = Enumerable.Range(0, 5).Select(e => (double)schedule.LearningRateAt(e)).ToArray();
        Assert.That(history.Select(e => e.LearningRate), Is.EqualTo(expected));
        Assert.That(expected.Distinct().Count(), Is.EqualTo(3), "the schedule really changes the rate");
        Assert.That(progress.Items.Where(p => p.Batch == 1).Select(p => p.LearningRate), Is.EqualTo(expected));
        Assert.That(schedule.LastEpoch, Is.EqualTo(5));
    }

    [Test]
    public void DivergingLossThrowsAClearError()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 6, TrainingTestData.Features, TrainingTestData.Classes);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), lr: 1e30f));
        var ex = Assert.Throws<InvalidOperationException>(() => trainer.Fit(Data(device, 64, 8, 1), null, epochs: 3));
        Assert.That(ex!.Message, Does.Contain("diverged"));
    }

    [Test]
    public void CheckNumericsNamesTheFirstLayerThatProducedNaN()
    {
        var device = new CpuDevice(threads: 1);
        var model = TinyModel(device, 3, TrainingTestData.Features, TrainingTestData.Classes);
        var first = model.Parameters().First();
        var w = first.Value.ToArray();
        w[0] = float.NaN;                      // a poisoned weight in the first layer
        first.Value.CopyFrom(w);
        var guarded = new Trainer(model, new Sgd(model.Parameters(), lr: 0.1f)) { CheckNumerics = true };
        var ex = Assert.Throws<ConvEngine.Diagnostics.NonFiniteException>(() => guarded.Fit(Data(device, 32, 8, 1), null, epochs: 1));
        Assert.That(ex!.ModuleName, Is.EqualTo(first.Name[..first.Name.LastIndexOf('.')]), ex.Message);
        Assert.That(ex.Message, Does.Contain("so this module produced them"));

        // Without the guard nothing stops: ReLU maps NaN to 0 (NaN > 0 is false), so the loss stays finite and the
        // poisoned weight trains on silently. This is what the guard is for.
        var unguarded = new Trainer(model, new Sgd(model.Parameters(), lr: 0.1f));
        Assert.DoesNotThrow(() => unguarded.Fit(Data(device, 32, 8, 1), null, epochs: 1));
        Assert.That(float.IsNaN(first.Value.ToArray()[0]), Is.True);
    }
}

internal static class HistoryExtensions
{
    public static EvaluationResult? Test(this TrainingHistory h) => h.Last?.Test;

}
