using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Serialization;
using NUnit.Framework;

namespace ConvEngine.Tests.Models;

/// <summary>
/// Whole blocks and models against PyTorch. The fixtures are written by `/usr/bin/python3 tools/pytorch_models.py export-residual
/// Engine.Tests/Fixtures/residual` and `... export-lenet Engine.Tests/Fixtures/lenet5` (PyTorch 1.13) and committed.
/// </summary>
public class PyTorchModelTests
{
    private static string Fixture(params string[] parts) =>
        Path.Combine([TestContext.CurrentContext.TestDirectory, "Fixtures", .. parts]);

    [TestCase("identity", 3, 3, false, 1)]
    [TestCase("projection", 3, 4, true, 2)]
    public void ResidualBlockMatchesPyTorchInTraining(string kind, int cin, int cout, bool projection, int stride)
    {
        var f = SafeTensors.Load(Fixture("residual", $"residual_{kind}.safetensors"));
        var block = new Residual(cin, cout, projection, stride, seed: 1);
        var state = f.Where(kv => kv.Key.StartsWith("state.", StringComparison.Ordinal))
                     .ToDictionary(kv => kv.Key["state.".Length..], kv => kv.Value);
        block.LoadStateDict(state);
        block.Train();

        var y = block.Forward(f["x"]);
        TestUtil.AssertClose(y.ToArray(), f["y"].ToArray(), 1e-4, 1e-5, "y");
        block.ZeroGrad();
        var dX = block.Backward(f["upstream"]);
        double scale = f["dX"].ToArray().Max(MathF.Abs);
        TestUtil.AssertClose(dX.ToArray(), f["dX"].ToArray(), 1e-4, 1e-5 * scale + 1e-6, "dX");
        // A conv bias in front of batch norm has a true gradient of 0 (BN removes the mean), so both sides hold only rounding
        // noise there: the absolute floor is scaled by the largest parameter gradient of the block, not by that tensor's own.
        double gradScale = block.Parameters().Max(p => f["grad." + p.Name].ToArray().Max(MathF.Abs));
        foreach (var p in block.Parameters())
            TestUtil.AssertClose(p.Grad.ToArray(), f["grad." + p.Name].ToArray(), 1e-4, 1e-5 * gradScale, p.Grad.Name!);
        foreach (var (name, t) in block.NamedBuffers().Where(b => b.Name.Contains("running")))
            TestUtil.AssertClose(t.ToArray(), f["after." + name].ToArray(), 1e-4, 1e-6, name);
    }

    [Test]
    public void LeNet5TrainedInPyTorchGivesTheSameLogits()
    {
        var weights = SafeTensors.Load(Fixture("lenet5", "lenet5.safetensors"));
        var io = SafeTensors.Load(Fixture("lenet5", "lenet5_io.safetensors"));
        var model = new LeNet5(seed: 123);
        model.LoadStateDict(weights);
        model.Eval();
        var logits = model.Forward(io["input"]);
        Assert.That(logits.Shape, Is.EqualTo(io["logits"].Shape));
        TestUtil.AssertClose(logits.ToArray(), io["logits"].ToArray(), 1e-5, 1e-5, "logits");
    }

    [Test]
    public void CheckpointWithWrongShapeIsRefusedNamingTheTensor()
    {
        var weights = SafeTensors.Load(Fixture("lenet5", "lenet5.safetensors"));
        var model = new LeNet5(numClasses: 7);
        var ex = Assert.Throws<ArgumentException>(() => model.LoadStateDict(weights));
        Assert.That(ex!.Message, Does.Contain("fc3.weight").And.Contain("[7, 84]").And.Contain("[10, 84]"));
    }
}
