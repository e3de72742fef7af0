using ConvEngine.NN;
using ConvEngine.Serialization;
using NUnit.Framework;

namespace ConvEngine.Tests.Serialization;

public class CheckpointTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "ckpt-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static Sequential Model(int seed, int hidden = 5) => new(new Linear(4, hidden, seed: seed), new ReLU(), new Linear(hidden, 3, seed: seed + 1));

    [Test]
    public void SaveThenLoadRestoresParametersOptimizerStateAndMetadata()
    {
        var a = Model(1);
        var optimizer = new Dictionary<string, Tensor>
        {
            ["0.weight.momentum"] = TestUtil.RandomTensor(new Random(2), 5, 4),
            ["step"] = Tensor.FromArray([17f], 1),
        };
        var path = Path.Combine(_dir, "ckpt.safetensors");
        Checkpoint.Save(path, a, optimizer, new Dictionary<string, string> { ["epoch"] = "3", ["accuracy"] = "0.91" });

        var names = SafeTensors.ReadHeader(path).Tensors.Select(t => t.Name).ToList();
        Assert.That(names, Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias", "optimizer.0.weight.momentum", "optimizer.step" }));

        var b = Model(99);
        Assert.That(b.StateDict()["0.weight"].ToArray(), Is.Not.EqualTo(a.StateDict()["0.weight"].ToArray()));
        var contents = Checkpoint.Load(path, b);
        foreach (var (name, t) in a.StateDict())
            Assert.That(b.StateDict()[name].ToArray(), Is.EqualTo(t.ToArray()), name);
        Assert.That(contents.OptimizerState.Keys, Is.EqualTo(new[] { "0.weight.momentum", "step" }));
        Assert.That(contents.OptimizerState["0.weight.momentum"].ToArray(), Is.EqualTo(optimizer["0.weight.momentum"].ToArray()));
        Assert.That(contents.OptimizerState["step"].ToArray(), Is.EqualTo(new[] { 17f }));
        Assert.That(contents.Metadata["epoch"], Is.EqualTo("3"));

        // The restored model computes the same function.
        var x = TestUtil.RandomTensor(new Random(5), 2, 4);
        Assert.That(b.Forward(x).ToArray(), Is.EqualTo(a.Forward(x).ToArray()));
    }

    [Test]
    public void ShapeMismatchNamesTheTensorAndChangesNothing()
    {
        var path = Path.Combine(_dir, "ckpt.safetensors");
        Checkpoint.Save(path, Model(1, hidden: 5));
        var other = Model(2, hidden: 6);
        var before = other.StateDict()["2.bias"].ToArray();
        var ex = Assert.Throws<ArgumentException>(() => Checkpoint.Load(path, other))!;
        Assert.That(ex.Message, Does.Contain("0.weight"));
        Assert.That(other.StateDict()["2.bias"].ToArray(), Is.EqualTo(before), "all-or-nothing");
    }

    [Test]
    public void StrictRefusesMissingEntriesAndNonStrictAccepts()
    {
        var path = Path.Combine(_dir, "partial.safetensors");
        var full = Model(1);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["0.weight"] = full.StateDict()["0.weight"], ["optimizer.lr"] = Tensor.FromArray([0.1f], 1) });
        var m = Model(2);
        var ex = Assert.Throws<ArgumentException>(() => Checkpoint.Load(path, m))!;
        Assert.That(ex.Message, Does.Contain("0.bias"));
        var contents = Checkpoint.Load(path, m, strict: false);
        Assert.That(m.StateDict()["0.weight"].ToArray(), Is.EqualTo(full.StateDict()["0.weight"].ToArray()));
        Assert.That(contents.OptimizerState["lr"].ToArray(), Is.EqualTo(new[] { 0.1f }));
        Assert.That(contents.Metadata, Is.Empty);
    }

    [Test]
    public void CorruptCheckpointIsInvalidData()
    {
        var path = Path.Combine(_dir, "ckpt.safetensors");
        Checkpoint.Save(path, Model(1));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, Model(1)))!;
        Assert.That(ex.Message, Does.Contain(path));
    }
}
