using ConvEngine.Cli;
using ConvEngine.Models;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.Cli;

public class SummaryTests
{
    [Test]
    public void LeNet5ReceptiveFieldsShapesAndParameters()
    {
        // Derivation by hand from r_out = r_in + (k − 1)·d·j_in, j_out = j_in·s, starting at r = j = 1:
        //   conv1 5x5 s1 p2: r = 1 + 4·1 = 5,   j = 1
        //   pool1 2x2 s2:    r = 5 + 1·1 = 6,   j = 2
        //   conv2 5x5 s1:    r = 6 + 4·2 = 14,  j = 2
        //   pool2 2x2 s2:    r = 14 + 1·2 = 16, j = 4
        // Activations keep r and j; flatten and the linear layers see the whole image (global).
        // Parameters: conv1 6·1·25 + 6 = 156, conv2 16·6·25 + 16 = 2416, fc1 400·120 + 120 = 48120,
        //             fc2 120·84 + 84 = 10164, fc3 84·10 + 10 = 850.
        var rows = ModelSummary.Compute(new LeNet5(numClasses: 10), 1, 28, 28);
        var byName = rows.ToDictionary(r => r.Name);
        (string Name, int[] Shape, long Params, int? Rf, int? Jump)[] expected =
        [
            ("conv1", [1, 6, 28, 28], 156, 5, 1), ("act1", [1, 6, 28, 28], 0, 5, 1), ("pool1", [1, 6, 14, 14], 0, 6, 2),
            ("conv2", [1, 16, 10, 10], 2416, 14, 2), ("act2", [1, 16, 10, 10], 0, 14, 2), ("pool2", [1, 16, 5, 5], 0, 16, 4),
            ("flatten", [1, 400], 0, null, null), ("fc1", [1, 120], 48120, null, null), ("act3", [1, 120], 0, null, null),
            ("fc2", [1, 84], 10164, null, null), ("act4", [1, 84], 0, null, null),
            ("fc3", [1, 10], 850, null, null),
        ];
        Assert.That(rows.Select(r => r.Name), Is.EqualTo(expected.Select(e => e.Name)));
        foreach (var e in expected)
        {
            var r = byName[e.Name];
            Assert.That(r.OutputShape, Is.EqualTo(e.Shape), e.Name);
            Assert.That(r.Parameters, Is.EqualTo(e.Params), e.Name);
            Assert.That(r.ReceptiveField, Is.EqualTo(e.Rf is int rf ? (rf, rf) : ((int, int)?)null), e.Name);
            Assert.That(r.Jump, Is.EqualTo(e.Jump is int j ? (j, j) : ((int, int)?)null), e.Name);
        }
        Assert.That(rows.Sum(r => r.Parameters), Is.EqualTo(61706));
    }

    [Test]
    public void DilatedAndStridedConvolutionsFollowTheFormula()
    {
        // conv 3x3 d2 s1: r = 1 + 2·2·1 = 5, j = 1; conv 3x3 s2: r = 5 + 2·1 = 7, j = 2; pool 3 s2: r = 7 + 2·2 = 11, j = 4.
        var model = new Sequential(new Conv2d(1, 2, 3, stride: 1, padding: 2, dilation: 2, seed: 1), new Conv2d(2, 2, 3, stride: 2, seed: 2), new MaxPool2d(3, 2));
        var rows = ModelSummary.Compute(model, 1, 32, 32);
        Assert.That(rows.Select(r => r.ReceptiveField!.Value.H), Is.EqualTo(new[] { 5, 7, 11 }));
        Assert.That(rows.Select(r => r.Jump!.Value.H), Is.EqualTo(new[] { 1, 2, 4 }));
    }

    [Test]
    public void ResidualBlocksFollowTheMainPath()
    {
        // ResNet-small: conv1 3x3 → r 3; each identity block adds two 3x3 convs at jump j: +4j.
        // layer1 (j = 1): 3 → 7 → 11; layer2.0 (stride 2 in conv1): 11 + 2·1 = 13, j = 2, then + 2·2 = 17; layer2.1: 17 + 8 = 25.
        var rows = ModelSummary.Compute(new ResNetSmall(numClasses: 10, inChannels: 1), 1, 28, 28);
        var rf = rows.ToDictionary(r => r.Name, r => r.ReceptiveField?.H);
        Assert.That(rf["conv1"], Is.EqualTo(3));
        Assert.That(rf["layer1.0"], Is.EqualTo(7));
        Assert.That(rf["layer1.1"], Is.EqualTo(11));
        Assert.That(rf["layer2.0"], Is.EqualTo(17));
        Assert.That(rf["layer2.1"], Is.EqualTo(25));
        Assert.That(rows.Single(r => r.Name == "layer2.0").Jump, Is.EqualTo((2, 2)));
    }

    [Test]
    public void ResNet18ReceptiveFieldIs435()
    {
        // conv1 7x7 s2: r 7, j 2; maxpool 3 s2: 7 + 2·2 = 11, j 4; layer1 (four 3x3 at j 4): 11 + 4·8 = 43;
        // layer2: 43 + 2·4 (strided conv, j → 8) + 2·8 + 2·16 = 99; layer3: 99 + 16 + 32 + 64 = 211 (j 16);
        // layer4: 211 + 32 + 64 + 128 = 435 (j 32), the published receptive field of ResNet-18.
        var rows = ModelSummary.Compute(new ResNet18(numClasses: 10, inChannels: 1), 1, 32, 32);
        var rf = rows.ToDictionary(r => r.Name, r => r.ReceptiveField?.H);
        Assert.That((rf["pool1"], rf["layer1.1"], rf["layer2.1"], rf["layer3.1"], rf["layer4.1"]), Is.EqualTo((11, 43, 99, 211, 435)));
        Assert.That(rows.Single(r => r.Name == "layer4.1").Jump, Is.EqualTo((32, 32)));
    }
}
