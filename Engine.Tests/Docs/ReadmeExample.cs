using ConvEngine;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Docs;

/// <summary>
/// README's first example, compiled and run. The text between the markers must equal README's ```csharp block
/// (without its using lines): <see cref="ReadmeExampleTests.ReadmeShowsThisCode"/> checks it, so the README cannot rot.
/// </summary>
public static class ReadmeExample
{
    public static (double Loss, Tensor Logits) Run()
    {
        // <readme-example>
        var device = new CpuDevice(threads: 2);                 // no global backend: the device is passed in
        var model = new LeNet5(numClasses: 10, device: device, seed: 42);
        var loss = new SoftmaxCrossEntropy();
        var sgd = new Sgd(model.Parameters(), lr: 0.05f, momentum: 0.9f);

        var x = Tensor.FromArray(device, new float[8 * 1 * 28 * 28], 8, 1, 28, 28);   // a batch of 8 images (N, C, H, W)
        int[] labels = [0, 1, 2, 3, 4, 5, 6, 7];

        Tensor logits = model.Forward(x);                        // (8, 10)
        double value = loss.Forward(logits, labels);             // mean cross-entropy
        model.ZeroGrad();
        model.Backward(loss.Backward());                         // dLogits = (softmax − onehot) / N, then every layer's backward
        sgd.Step();                                              // w −= lr · (momentum-smoothed) gradient

        foreach (var p in model.Parameters())                    // PyTorch state_dict names: conv1.weight, fc3.bias, ...
            Console.WriteLine($"{p.Name,-14} {p.Value.ShapeString,-16} |grad| max {p.Grad.Stats().MaxAbs:G3}");
        // </readme-example>
        return (value, logits);
    }
}

public class ReadmeExampleTests
{
    private static string RepoFile(string name)
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, name))) dir = dir.Parent;
        Assert.That(dir, Is.Not.Null, $"{name} not found above the test directory");
        return Path.Combine(dir!.FullName, name);
    }

    private static string Dedent(IEnumerable<string> lines)
    {
        var list = lines.ToList();
        int indent = list.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", list.Select(l => l.Length >= indent ? l[indent..] : l.Trim()).Select(l => l.TrimEnd())).Trim();
    }

    [Test]
    public void ReadmeShowsThisCode()
    {
        var readme = File.ReadAllLines(RepoFile("README.md"));
        int start = Array.FindIndex(readme, l => l.StartsWith("```csharp", StringComparison.Ordinal));
        int end = Array.FindIndex(readme, start + 1, l => l.StartsWith("```", StringComparison.Ordinal));
        var block = readme[(start + 1)..end].Where(l => !l.StartsWith("using ", StringComparison.Ordinal));

        var source = File.ReadAllLines(RepoFile(Path.Combine("Engine.Tests", "Docs", "ReadmeExample.cs")));
        int s = Array.FindIndex(source, l => l.Contains("// <readme-example>"));
        int e = Array.FindIndex(source, l => l.Contains("// </readme-example>"));
        Assert.That(Dedent(source[(s + 1)..e]), Is.EqualTo(Dedent(block)), "README's example and ReadmeExample.Run differ: update one from the other");
    }

    [Test]
    public void ReadmeExampleRunsAndLearns()
    {
        var (loss, logits) = ReadmeExample.Run();
        Assert.That(logits.Shape, Is.EqualTo(new[] { 8, 10 }));
        Assert.That(loss, Is.GreaterThan(1.5).And.LessThan(3.5), "cross-entropy of an untrained 10-class model is near ln 10");
    }
}
