using ConvEngine.Inspect;
using ConvEngine.Models;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.InspectTests;

public class ReceptiveFieldTests
{
    [Test]
    public void LeNet5ByHand()
    {
        // LeNet-5 on 28x28, r_out = r_in + (k − 1)·j_in, j_out = j_in·s, starting from r = 1, j = 1:
        //   conv1 5x5 s1 p2:  r = 1 + 4·1  = 5,  j = 1, out 6x28x28
        //   act1:             pass through
        //   pool1 2x2 s2:     r = 5 + 1·1  = 6,  j = 2, out 6x14x14
        //   conv2 5x5 s1:     r = 6 + 4·2  = 14, j = 2, out 16x10x10
        //   pool2 2x2 s2:     r = 14 + 1·2 = 16, j = 4, out 16x5x5
        //   flatten:          pass through (400 values, still 5x5 positions)
        //   fc1:              sees the whole 5x5 map: r = 16 + (5 − 1)·4 = 32 (= 28 + 2·2 padding), then one unit
        //   act3, fc2, act4, fc3: 32
        // The start (centre of the first unit's field): conv1 0.5 + (2 − 2)·1 = 0.5; pool1 0.5 + 0.5·1 = 1;
        // conv2 1 + 2·2 = 5; pool2 5 + 0.5·2 = 6.
        var rf = ReceptiveField.Of(new LeNet5(), 28);
        Assert.That(rf.Select(e => e.Layer), Is.EqualTo(new[] { "conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc1", "act3", "fc2", "act4", "fc3" }));
        int[] r = [5, 5, 6, 14, 14, 16, 16, 32, 32, 32, 32, 32];
        int[] j = [1, 1, 2, 2, 2, 4, 4, 16, 16, 16, 16, 16];
        Assert.That(rf.Select(e => e.Size.H), Is.EqualTo(r));
        Assert.That(rf.Select(e => e.Size.W), Is.EqualTo(r));
        Assert.That(rf.Take(7).Select(e => e.Jump.H), Is.EqualTo(j.Take(7)));
        Assert.That(rf[0].OutputShape, Is.EqualTo(new[] { 6, 28, 28 }));
        Assert.That(rf[2].OutputShape, Is.EqualTo(new[] { 6, 14, 14 }));
        Assert.That(rf[3].OutputShape, Is.EqualTo(new[] { 16, 10, 10 }));
        Assert.That(rf[5].OutputShape, Is.EqualTo(new[] { 16, 5, 5 }));
        Assert.That(rf[7].OutputShape, Is.EqualTo(new[] { 120 }));
        Assert.That(rf.Take(6).Select(e => e.Start.H), Is.EqualTo(new[] { 0.5, 0.5, 1, 5, 5, 6 }));
    }

    [Test]
    public void DilationStrideAndRectangularInputs()
    {
        // conv 3x3 dilation 2: r = 1 + 2·2 = 5; conv 3x3 stride 2: r = 5 + 2·1 = 7, j = 2; maxpool 3 s1: r = 7 + 2·2 = 11.
        var m = new Sequential(new Conv2d(2, 4, 3, dilation: 2), new Conv2d(4, 4, 3, stride: 2), new MaxPool2d(3, 1), new AvgPool2d((1, 2)));
        var rf = ReceptiveField.Of(m, (20, 24));
        Assert.That(rf.Select(e => e.Size.H), Is.EqualTo(new[] { 5, 7, 11, 11 }));
        Assert.That(rf.Select(e => e.Size.W), Is.EqualTo(new[] { 5, 7, 11, 13 }));
        Assert.That(rf.Select(e => e.Jump.W), Is.EqualTo(new[] { 1, 2, 2, 4 }));
        Assert.That(rf[0].OutputShape, Is.EqualTo(new[] { 4, 16, 20 }));
        Assert.That(rf[1].OutputShape, Is.EqualTo(new[] { 4, 7, 9 }));
    }

    [Test]
    public void ResidualBlocksUseTheLongerBranchAndGlobalPoolCoversTheMap()
    {
        var model = new ResNetSmall(5, width: 4);
        model.Train();
        var rf = ReceptiveField.Of(model, 28);
        var byName = rf.ToDictionary(e => e.Layer);
        // stem conv 3x3: 3; block 1: two 3x3 convs → 7, the identity shortcut has 3, the sum takes the larger: relu2 = 7.
        Assert.That(byName["conv1"].Size.H, Is.EqualTo(3));
        Assert.That(byName["layer1.0.conv2"].Size.H, Is.EqualTo(7));
        Assert.That(byName["layer1.0.relu2"].Size.H, Is.EqualTo(7));
        Assert.That(byName["layer1.1.relu2"].Size.H, Is.EqualTo(11));
        // Projection 1x1 stride 2 on the block input: r stays 11, j = 2.
        Assert.That(byName["layer2.0.conv3"].Size.H, Is.EqualTo(11));
        Assert.That(byName["layer2.0.conv3"].Jump.H, Is.EqualTo(2));
        // layer2.0: conv1 3x3 s2: 11 + 2 = 13 (j 2); conv2: 13 + 2·2 = 17.
        Assert.That(byName["layer2.0.relu2"].Size.H, Is.EqualTo(17));
        // Global pool over the final 7x7 map with jump 4.
        var last = byName["layer3.1.relu2"];
        Assert.That(byName["pool"].Size.H, Is.EqualTo(last.Size.H + 6 * last.Jump.H));
        Assert.That(model.IsTraining && model.Descendants().All(d => d.IsTraining), "modes restored");
        Assert.That(model.Descendants().OfType<BatchNorm2d>().First().NumBatchesTracked.ToArray()[0], Is.EqualTo(0f), "eval forward did not track");
    }
}
