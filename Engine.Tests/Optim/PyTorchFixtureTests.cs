using System.Text.Json;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Optim;

/// <summary>
/// Batch norm, cross-entropy, optimizers and gradient clipping against values PyTorch 1.13 computed
/// (Fixtures/norms/pytorch_norms_optim.json, made by make_fixture.py next to it).
/// </summary>
public class PyTorchFixtureTests
{
    private static JsonElement _root;

    [OneTimeSetUp]
    public void Load()
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "norms", "pytorch_norms_optim.json");
        _root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    }

    private static float[] F(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();

    [TestCaseSource(nameof(Devices))]
    public void BatchNorm2dMatchesPyTorch(IDevice device)
    {
        var e = _root.GetProperty("bn");
        var shape = e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var bn = new BatchNorm2d(shape[1], device: device);
        bn.Weight.Value.CopyFrom(F(e, "weight"));
        bn.Bias.Value.CopyFrom(F(e, "bias"));
        var x1 = Tensor.FromArray(device, F(e, "x1"), shape);
        bn.Forward(x1);
        var y2 = bn.Forward(Tensor.FromArray(device, F(e, "x2"), shape));
        TestUtil.AssertClose(y2.ToArray(), F(e, "y2"), 1e-4, 1e-5, "y (train)");
        var dX = bn.Backward(Tensor.FromArray(device, F(e, "dy"), shape));
        TestUtil.AssertClose(dX.ToArray(), F(e, "dx"), 1e-4, 1e-5, "dX");
        TestUtil.AssertClose(bn.Weight.Grad.ToArray(), F(e, "dweight"), 1e-4, 1e-5, "dγ");
        TestUtil.AssertClose(bn.Bias.Grad.ToArray(), F(e, "dbias"), 1e-4, 1e-5, "dβ");
        TestUtil.AssertClose(bn.RunningMean.ToArray(), F(e, "running_mean"), 1e-5, 1e-6, "running_mean");
        TestUtil.AssertClose(bn.RunningVar.ToArray(), F(e, "running_var"), 1e-5, 1e-6, "running_var");
        bn.Eval();
        TestUtil.AssertClose(bn.Forward(x1).ToArray(), F(e, "y_eval"), 1e-4, 1e-5, "y (eval)");
    }

    private static IEnumerable<IDevice> Devices() => [CpuDevice.Default, ReferenceDevice.Instance];

    [Test]
    public void CrossEntropyWithLargeLogitsMatchesPyTorch()
    {
        var e = _root.GetProperty("ce");
        var labels = e.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var (loss, grad) = new SoftmaxCrossEntropy().Compute(Tensor.FromArray(F(e, "logits"), labels.Length, F(e, "logits").Length / labels.Length), labels);
        double expected = e.GetProperty("loss").GetDouble();
        Assert.That(loss, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected) + 1e-6));
        TestUtil.AssertClose(grad.ToArray(), F(e, "grad"), 1e-4, 1e-6, "dLogits");
    }

    [TestCase("sgd_nesterov"), TestCase("sgd_dampening"), TestCase("adam"), TestCase("adamw")]
    public void OptimizersMatchPyTorch(string kind)
    {
        var e = _root.GetProperty("optim");
        var p = new Parameter("w", Tensor.FromArray(F(e, "w0"), 6));
        Optimizer opt = kind switch
        {
            "sgd_nesterov" => new Sgd([p], 0.1f, momentum: 0.9f, weightDecay: 0.01f, nesterov: true),
            "sgd_dampening" => new Sgd([p], 0.1f, momentum: 0.8f, dampening: 0.3f),
            "adam" => new Adam([p], 0.01f, 0.8f, 0.99f, weightDecay: 0.1f),
            _ => new AdamW([p], 0.01f, weightDecay: 0.5f),
        };
        foreach (var g in e.GetProperty("grads").EnumerateArray())
        {
            p.Grad.CopyFrom(g.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray());
            opt.Step();
        }
        TestUtil.AssertClose(p.Value.ToArray(), F(e.GetProperty("results"), kind), 1e-5, 1e-6, kind);
    }

    [Test]
    public void ClipGradNormMatchesPyTorch()
    {
        var e = _root.GetProperty("clip");
        var a = new Parameter("a", Tensor.Zeros(4)); var b = new Parameter("b", Tensor.Zeros(3));
        a.Grad.CopyFrom(F(e, "a")); b.Grad.CopyFrom(F(e, "b"));
        float total = GradClip.ClipGradNorm([a, b], (float)e.GetProperty("max_norm").GetDouble());
        Assert.That(total, Is.EqualTo(e.GetProperty("total").GetDouble()).Within(1e-5));
        TestUtil.AssertClose(a.Grad.ToArray(), F(e, "a_clipped"), 1e-5, 1e-7, "a");
        TestUtil.AssertClose(b.Grad.ToArray(), F(e, "b_clipped"), 1e-5, 1e-7, "b");
    }
}
