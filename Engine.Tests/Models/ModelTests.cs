using ConvEngine.Models;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Models;

/// <summary>
/// Structure tests of the seeds' models. The expected parameter counts were printed by
/// `/usr/bin/python3 tools/pytorch_models.py counts` (PyTorch 1.13 twins of the same networks, torchvision's structure for AlexNet and VGG).
/// </summary>
public class ModelTests
{
    [Test]
    public void ParameterCountsEqualPyTorch()
    {
        Assert.That(new LeNet5().ParameterCount(), Is.EqualTo(61_706));
        Assert.That(new KerasStyleCnn().ParameterCount(), Is.EqualTo(694_218));
        Assert.That(new ResNetSmall().ParameterCount(), Is.EqualTo(696_778));
        Assert.That(new ResNet18(1000).ParameterCount(), Is.EqualTo(11_692_520));
        Assert.That(new ResNet18(10).ParameterCount(), Is.EqualTo(11_184_650));
        Assert.That(new AlexNet(1000).ParameterCount(), Is.EqualTo(61_100_840));
    }

    [TestCase(11, 132_863_336L)]
    [TestCase(13, 133_047_848L)]
    [TestCase(16, 138_357_544L)]
    [TestCase(19, 143_667_240L)]
    public void VggParameterCountsEqualTorchvision(int depth, long expected)
    {
        var vgg = new Vgg(depth, 1000);
        Assert.That(vgg.ParameterCount(), Is.EqualTo(expected));
        Assert.That(vgg.Parameters().Count(p => p.Value.Rank == 4), Is.EqualTo(depth - 3), "conv layers");
    }

    [Test]
    public void NamesFollowPyTorchStateDict()
    {
        var lenet = new LeNet5();
        Assert.That(lenet.StateDict().Keys, Is.EqualTo(new[] {
            "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias" }));

        var resnet = new ResNet18(10);
        var keys = resnet.StateDict().Keys.ToHashSet();
        Assert.That(keys, Does.Contain("layer1.0.bn1.running_mean"));
        Assert.That(keys, Does.Contain("layer2.0.conv3.weight"), "projection of the first stride-2 block");
        Assert.That(keys, Does.Not.Contain("layer1.0.conv3.weight"), "identity shortcut has no projection");
        Assert.That(keys, Does.Contain("fc.weight"));
        Assert.That(resnet.StateDict()["conv1.weight"].Shape, Is.EqualTo(new[] { 64, 3, 7, 7 }));
        Assert.That(resnet.NamedBuffers().Select(b => b.Name), Does.Contain("layer4.1.bn2.running_var"));

        var alex = new AlexNet(10);
        Assert.That(alex.StateDict().Keys, Does.Contain("features.10.weight").And.Contain("classifier.6.bias"));
        Assert.That(alex.StateDict()["classifier.1.weight"].Shape, Is.EqualTo(new[] { 4096, 9216 }));
    }

    [Test]
    public void SmallModelsProduceLogitsForBatches()
    {
        var rng = new Random(1);
        var x = TestUtil.RandomTensor(rng, 3, 1, 28, 28);
        Assert.That(new LeNet5(seed: 1).Forward(x).Shape, Is.EqualTo(new[] { 3, 10 }));
        Assert.That(new KerasStyleCnn(seed: 1).Forward(x).Shape, Is.EqualTo(new[] { 3, 10 }));
        Assert.That(new ResNetSmall(width: 8, seed: 1).Forward(x).Shape, Is.EqualTo(new[] { 3, 10 }));
    }

    [Test]
    public void ImageNetModelsProduceLogits()
    {
        var x = TestUtil.RandomTensor(new Random(2), 2, 3, 224, 224);
        var resnet = new ResNet18(7, seed: 3);
        Assert.That(resnet.Forward(x).Shape, Is.EqualTo(new[] { 2, 7 }));
        var alex = new AlexNet(5, seed: 3);
        alex.Eval();
        Assert.That(alex.Forward(x).Shape, Is.EqualTo(new[] { 2, 5 }));
    }

    [Test]
    public void SameSeedSameWeightsDifferentSeedDifferent()
    {
        var a = new LeNet5(seed: 5).Parameters().SelectMany(p => p.Value.ToArray()).ToArray();
        var b = new LeNet5(seed: 5).Parameters().SelectMany(p => p.Value.ToArray()).ToArray();
        var c = new LeNet5(seed: 6).Parameters().SelectMany(p => p.Value.ToArray()).ToArray();
        Assert.That(b, Is.EqualTo(a));
        Assert.That(c, Is.Not.EqualTo(a));
    }

    [Test]
    public void ResidualGradientsMatchFiniteDifferences([Values] bool projection)
    {
        var block = projection ? new Residual(3, 4, true, 2, seed: 1) : new Residual(3, 3, false, 1, seed: 1);
        var x = TestUtil.RandomTensor(new Random(4), 2, 3, 6, 6);
        block.Eval(); // fixed statistics: BN then is affine, so finite differences see few ReLU kinks; train mode is checked against PyTorch
        var report = Inspect.GradCheck.Check(block, x, eps: 1e-3f, maxPerTensor: 40);
        Assert.That(report.MaxRelativeError, Is.LessThan(5e-2), report.ToString());
    }

    [Test]
    public void ResidualRefusesIdentityWhenShapesChange()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Residual(3, 4, useProjection: false));
        Assert.That(ex!.ParamName, Is.EqualTo("useProjection"));
        Assert.That(new Residual(4, 4, false).Children().Select(c => c.Name), Is.EqualTo(new[] { "conv1", "bn1", "relu1", "conv2", "bn2", "relu2" }));
        Assert.That(new Residual(4, 8, true, 2).Children().Select(c => c.Name), Does.Contain("conv3"));
    }
}
