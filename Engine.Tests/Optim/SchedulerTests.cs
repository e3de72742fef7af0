using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Optim;

public class SchedulerTests
{
    private static Sgd NewSgd(float lr) => new(new Sequential(new Linear(2, 2)).Parameters(), lr);

    /// <summary>Steps the schedule <paramref name="epochs"/> times and returns the optimizer's rate at epochs 0..epochs.</summary>
    private static float[] Trace(LrScheduler s, int epochs)
    {
        var lrs = new List<float> { s.Optimizer.LearningRate };
        for (int e = 0; e < epochs; e++) { s.Step(); lrs.Add(s.Optimizer.LearningRate); }
        return [.. lrs];
    }

    [Test]
    public void StepLRDecaysEveryStepSizeEpochs()
    {
        var s = new StepLR(NewSgd(0.1f), stepSize: 3, gamma: 0.5f);
        var expected = Enumerable.Range(0, 11).Select(t => (float)(0.1 * Math.Pow(0.5, t / 3))).ToArray();
        TestUtil.AssertClose(Trace(s, 10), expected, 1e-6, 0, "lr");
        Assert.That(s.LastEpoch, Is.EqualTo(10));
    }

    [Test]
    public void CosineAnnealingFollowsTheClosedForm([Values(0f, 0.01f)] float etaMin)
    {
        const int tMax = 7;
        var s = new CosineAnnealingLR(NewSgd(0.2f), tMax, etaMin);
        var expected = Enumerable.Range(0, 15).Select(t => (float)(etaMin + (0.2 - etaMin) * (1 + Math.Cos(Math.PI * t / tMax)) / 2)).ToArray();
        var trace = Trace(s, 14);
        TestUtil.AssertClose(trace, expected, 1e-6, 1e-9, "lr");
        Assert.That(trace[tMax], Is.EqualTo(etaMin).Within(1e-7));
    }

    [Test]
    public void WarmupRisesLinearlyThenHolds()
    {
        var s = new WarmupLR(NewSgd(0.3f), warmupSteps: 4, startFactor: 0.25f);
        var expected = Enumerable.Range(0, 8).Select(t => (float)(t < 4 ? 0.3 * (0.25 + 0.75 * t / 4) : 0.3)).ToArray();
        TestUtil.AssertClose(Trace(s, 7), expected, 1e-6, 0, "lr");
    }

    [Test]
    public void WarmupThenCosineShiftsTheInnerSchedule()
    {
        var opt = NewSgd(0.1f);
        var cosine = new CosineAnnealingLR(opt, tMax: 5);
        var s = new WarmupLR(cosine, warmupSteps: 3);
        Assert.That(s.BaseLearningRate, Is.EqualTo(0.1f));
        var expected = Enumerable.Range(0, 10).Select(t => (float)(t < 3
            ? 0.1 * (1.0 / 3 + (2.0 / 3) * t / 3)
            : 0.1 * (1 + Math.Cos(Math.PI * (t - 3) / 5)) / 2)).ToArray();
        TestUtil.AssertClose(Trace(s, 9), expected, 1e-6, 1e-9, "lr");
    }

    [Test]
    public void SettingLastEpochResumesTheSchedule()
    {
        var opt = NewSgd(1f);
        var s = new StepLR(opt, 2, 0.1f);
        s.LastEpoch = 5;
        Assert.That(opt.LearningRate, Is.EqualTo(0.01f).Within(1e-8));
        s.Step();
        Assert.That(opt.LearningRate, Is.EqualTo(0.001f).Within(1e-9));
        Assert.That(s.LearningRateAt(0), Is.EqualTo(1f));
    }

    [Test]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepLR(NewSgd(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(NewSgd(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupLR(NewSgd(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupLR(NewSgd(1), 3, startFactor: 2));
        Assert.Throws<ArgumentNullException>(() => new WarmupLR((LrScheduler)null!, 3));
    }
}
