using ConvEngine.Data;
using ConvEngine.Inspect;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;
using NUnit.Framework;

namespace ConvEngine.Tests.Docs;

/// <summary>
/// The source of truth of every code block in docs/tutorial.md: the code between <c>// snippet: NAME</c> and <c>// end snippet</c>
/// is the block (see <see cref="Tutorial"/>); each test runs it, compares what it printed with the doc, and checks the numbers.
/// </summary>
public class TutorialSnippets
{
    [Test]
    public void OutputSize()
    {
        using var console = new ConsoleCapture();
        // snippet: output-size
        // ⌊(in + 2·padding − kernel) / stride⌋ + 1
        Console.WriteLine(ConvMath.OutputSize(28, kernel: 5, padding: 2));              // LeNet conv1: "same" size
        Console.WriteLine(ConvMath.OutputSize(28, kernel: 5));                          // no padding: 28 − 5 + 1
        Console.WriteLine(ConvMath.OutputSize(7, kernel: 3, stride: 2));                // ⌊(7 − 3)/2⌋ + 1
        Console.WriteLine(ConvMath.OutputSize(224, kernel: 11, stride: 4, padding: 2)); // AlexNet conv1

        var conv = new Conv2d(3, 8, kernelSize: 3, stride: 2, padding: 1, seed: 0);
        Console.WriteLine(conv.Forward(Tensor.Zeros(2, 3, 32, 32)).ShapeString);       // stride 2 halves H and W
        // end snippet
        Tutorial.AssertOutput("output-size", console.Text);
        Assert.That(console.Text.Split('\n')[0], Is.EqualTo("28"));
        Assert.That(conv.OutputShape([2, 3, 32, 32]), Is.EqualTo(new[] { 2, 8, 16, 16 }));
    }

    [Test]
    public void PaddingModes()
    {
        using var console = new ConsoleCapture();
        // snippet: padding-modes
        var x = Tensor.FromArray([1f, 2f, 3f, 4f], 1, 1, 1, 4);
        foreach (var mode in new[] { PaddingMode.Zeros, PaddingMode.Reflect, PaddingMode.Replicate })
        {
            // The 1x3 kernel [1, 0, 0] copies each pixel's left neighbour, so the first output shows the padding.
            var conv = new Conv2d(1, 1, (1, 3), padding: (0, 1), bias: false, paddingMode: mode);
            conv.Weight.Value.CopyFrom([1f, 0f, 0f]);
            Console.WriteLine($"{mode,-9}: {string.Join(" ", conv.Forward(x).ToArray())}");
        }
        // end snippet
        Tutorial.AssertOutput("padding-modes", console.Text);
        Assert.That(console.Text, Does.Contain("Zeros    : 0 1 2 3").And.Contain("Reflect  : 2 1 2 3").And.Contain("Replicate: 1 1 2 3"));
    }

    [Test]
    public void MultiChannel()
    {
        using var console = new ConsoleCapture();
        // snippet: multi-channel
        // One image with 2 channels of 2x2 pixels.
        var x = Tensor.FromArray([1f, 2f, 3f, 4f, /* channel 1 */ 10f, 20f, 30f, 40f], 1, 2, 2, 2);

        // One filter sees ALL input channels and sums them: (1+2+3+4)·1 + (10+20+30+40)·0.5 = 60.
        var one = new Conv2d(2, 1, kernelSize: 2, bias: false);
        one.Weight.Value.CopyFrom([1f, 1f, 1f, 1f, /* channel 1 */ 0.5f, 0.5f, 0.5f, 0.5f]);
        Console.WriteLine(one.Forward(x).ToArray()[0]);

        // Several filters give several output channels, stacked (not added): weight [Cout, Cin, KH, KW].
        var two = new Conv2d(2, 2, kernelSize: 2, bias: false);
        two.Weight.Value.CopyFrom([1f, 1f, 1f, 1f, 0f, 0f, 0f, 0f, /* filter 1 */ 0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f]);
        var y = two.Forward(x);
        Console.WriteLine($"{y.ShapeString}: {string.Join(", ", y.ToArray())}");
        // end snippet
        Tutorial.AssertOutput("multi-channel", console.Text);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 10f, 100f }));
    }

    [Test]
    public void Pooling()
    {
        using var console = new ConsoleCapture();
        // snippet: pooling
        var x = Tensor.FromArray(Enumerable.Range(1, 16).Select(v => (float)v).ToArray(), 1, 1, 4, 4);
        var max = new MaxPool2d(2);   // 2x2 windows, stride 2: the output is half as high and wide
        var avg = new AvgPool2d(2);
        Console.WriteLine($"max: {string.Join(" ", max.Forward(x).ToArray())}");
        Console.WriteLine($"avg: {string.Join(" ", avg.Forward(x).ToArray())}");

        // Max pooling sends each gradient to the one input that won its window; average pooling spreads it evenly.
        var dY = Tensor.FromArray([1f, 1f, 1f, 1f], 1, 1, 2, 2);
        Console.WriteLine($"max dX: {string.Join(" ", max.Backward(dY).ToArray())}");
        Console.WriteLine($"avg dX: {string.Join(" ", avg.Backward(dY).ToArray())}");
        // end snippet
        Tutorial.AssertOutput("pooling", console.Text);
        Assert.That(max.Forward(x).ToArray(), Is.EqualTo(new[] { 6f, 8f, 14f, 16f }));
    }

    [Test]
    public void ReluVersusSigmoid()
    {
        using var console = new ConsoleCapture();
        // snippet: relu-vs-sigmoid
        static string Show(Tensor t) => string.Join(" ", t.ToArray().Select(v => v.ToString("0.0000")));
        var x = Tensor.FromArray([-4f, -1f, 0f, 1f, 4f], 5);
        var ones = Tensor.FromArray([1f, 1f, 1f, 1f, 1f], 5);
        var sigmoid = new Sigmoid();
        var relu = new ReLU();
        sigmoid.Forward(x);
        relu.Forward(x);
        // With dY = 1, Backward returns the local derivative itself.
        Console.WriteLine($"x          {Show(x)}");
        Console.WriteLine($"sigmoid'   {Show(sigmoid.Backward(ones))}");   // σ(x)(1 − σ(x)), at most 1/4
        Console.WriteLine($"relu'      {Show(relu.Backward(ones))}");      // 1 for x > 0: the gradient passes unchanged

        // Ten sigmoids in a row: the gradient at the input is a product of ten factors ≤ 1/4.
        var deep = new Sequential(Enumerable.Range(0, 10).Select(_ => (Module)new Sigmoid()).ToArray());
        deep.Forward(Tensor.Zeros(1));
        Console.WriteLine($"d(10 sigmoids)/dx at 0: {deep.Backward(Tensor.FromArray([1f], 1)).ToArray()[0]:E2}");
        // end snippet
        Tutorial.AssertOutput("relu-vs-sigmoid", console.Text);
        float g = deep.Backward(Tensor.FromArray([1f], 1)).ToArray()[0];
        Assert.That(g, Is.LessThan(Math.Pow(0.25, 10) * 1.0001).And.GreaterThan(0));
    }

    [Test]
    public void BatchNormTrainAndEval()
    {
        using var console = new ConsoleCapture();
        // snippet: batchnorm
        // 4 samples, 2 features. Feature 0 has mean 2.5 and (biased) variance 1.25; feature 1 is 10x larger.
        var x = Tensor.FromArray([1f, 10f, 2f, 20f, 3f, 30f, 4f, 40f], 4, 2);
        var bn = new BatchNorm1d(2);   // γ = 1, β = 0, running_mean = 0, running_var = 1, momentum 0.1

        // Training: normalise with the batch's own mean and variance, and update the running averages.
        var train = bn.Forward(x);
        Console.WriteLine($"train out    {string.Join(" ", train.ToArray().Select(v => v.ToString("0.000")))}");
        Console.WriteLine($"running_mean {string.Join(" ", bn.RunningMean.ToArray())}");  // 0.9·0 + 0.1·mean
        Console.WriteLine($"running_var  {string.Join(" ", bn.RunningVar.ToArray().Select(v => v.ToString("0.000")))}");  // 0.9·1 + 0.1·unbiased var

        // Inference: the batch is not looked at; the saved running statistics are used (one sample works too).
        bn.Eval();
        var eval = bn.Forward(Tensor.FromArray([2.5f, 25f], 1, 2));
        Console.WriteLine($"eval out     {string.Join(" ", eval.ToArray().Select(v => v.ToString("0.000")))}");
        // end snippet
        Tutorial.AssertOutput("batchnorm", console.Text);
        var t = train.ToArray();
        Assert.That(t.Where((_, i) => i % 2 == 0).Average(), Is.EqualTo(0).Within(1e-6), "batch mean 0 in training");
        Assert.That(bn.RunningMean.ToArray()[0], Is.EqualTo(0.25f).Within(1e-6));
        Assert.That(eval.ToArray()[0], Is.EqualTo((2.5 - 0.25) / Math.Sqrt(0.9 + 0.1 * 5 / 3.0 + 1e-5)).Within(1e-5));
    }

    [Test]
    public void DropoutModes()
    {
        using var console = new ConsoleCapture();
        // snippet: dropout
        var x = Tensor.FromArray(Enumerable.Repeat(1f, 8).ToArray(), 1, 8);
        foreach (var mode in new[] { DropoutMode.UpscaleInTrain, DropoutMode.DowngradeInInfer })
        {
            var drop = new Dropout(p: 0.5f, mode: mode, seed: 1);
            var train = drop.Forward(x);   // a new random mask each training forward
            drop.Eval();
            var infer = drop.Forward(x);
            Console.WriteLine($"{mode,-16} train: {string.Join(" ", train.ToArray())}   infer: {string.Join(" ", infer.ToArray())}");
        }
        // end snippet
        Tutorial.AssertOutput("dropout", console.Text);
        Assert.That(console.Text, Does.Contain("infer: 1 1 1 1 1 1 1 1").And.Contain("infer: 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5"));
    }

    [Test]
    public void SoftmaxCrossEntropyGradient()
    {
        using var console = new ConsoleCapture();
        // snippet: softmax-ce
        static string Show(float[] v) => string.Join(" ", v.Select(a => a.ToString("0.0000")));
        var logits = Tensor.FromArray([2f, 1f, 0.1f], 1, 3);
        var loss = new SoftmaxCrossEntropy();
        double l = loss.Forward(logits, [0]);            // the true class is 0
        var dLogits = loss.Backward();

        var e = logits.ToArray().Select(MathF.Exp).ToArray();
        var p = e.Select(v => v / e.Sum()).ToArray();    // softmax by hand
        Console.WriteLine($"p        {Show(p)}");
        Console.WriteLine($"loss     {l:0.0000} = -log p[0] = {-Math.Log(p[0]):0.0000}");
        Console.WriteLine($"dLogits  {Show(dLogits.ToArray())}");   // p − onehot(0)
        // end snippet
        Tutorial.AssertOutput("softmax-ce", console.Text);
        var d = dLogits.ToArray();
        for (int i = 0; i < 3; i++) Assert.That(d[i], Is.EqualTo(p[i] - (i == 0 ? 1 : 0)).Within(1e-6));
    }

    [Test]
    public void LeNetStep()
    {
        using var console = new ConsoleCapture();
        // snippet: lenet-step
        var data = Shapes.Generate(8, seed: 1);                       // 8 synthetic 28x28 shapes, 5 classes
        var model = new LeNet5(numClasses: 5, seed: 0);
        var stepper = new Stepper(model, new SoftmaxCrossEntropy(), new Sgd(model.Parameters(), lr: 0.1f));
        var trace = stepper.Run(data.ImagesTensor(), data.Labels.ToArray());

        foreach (var e in trace)
        {
            // The main tensor of each event: what the layer produced, the gradient it passed down, or the update applied.
            var t = e.Phase switch
            {
                StepPhase.Forward => e["output"],
                StepPhase.Update => e["weight.update"],
                _ => e["dX"],
            };
            Console.WriteLine($"{e.Phase,-8} {e.Layer,-7} {t.Role,-13} {t.ShapeString,-15} |.| = {t.Stats.L2Norm:G3}");
        }
        Console.WriteLine($"loss = {trace.Loss:F3} (ln 5 = {Math.Log(5):F3}: an untrained net guesses)");
        // end snippet
        Tutorial.AssertOutput("lenet-step", console.Text);
        Assert.That(trace.Count, Is.EqualTo(12 + 1 + 12 + 5));
        Assert.That(trace.Loss, Is.EqualTo(Math.Log(5)).Within(0.3));
    }

    [Test]
    public void ResidualBlock()
    {
        using var console = new ConsoleCapture();
        // snippet: residual
        var x = Tensor.FromArray(Enumerable.Range(0, 64).Select(i => (i % 7 - 3) / 3f).ToArray(), 1, 4, 4, 4);
        var identity = new Residual(4, 4, seed: 1);                                   // y = ReLU(branch(x) + x)
        var projected = new Residual(4, 8, useProjection: true, stride: 2, seed: 1);  // y = ReLU(branch(x) + conv1x1(x))
        Console.WriteLine($"identity-add:  {identity.Forward(x).ShapeString}, {identity.ParameterCount()} parameters");
        Console.WriteLine($"projected-add: {projected.Forward(x).ShapeString}, {projected.ParameterCount()} parameters");

        // Switch the branch off (bn2's γ = 0): the block is then y = ReLU(0 + x), and the
        // gradient still reaches x through the identity path: dX = dY where x > 0.
        identity.Bn2.Weight.Value.CopyFrom(new float[4]);
        var y = identity.Forward(x);
        var dX = identity.Backward(Tensor.FromArray(Enumerable.Repeat(1f, 64).ToArray(), 1, 4, 4, 4)).ToArray();
        var xs = x.ToArray();
        Console.WriteLine($"y == ReLU(x): {y.ToArray().SequenceEqual(xs.Select(v => Math.Max(v, 0f)))}");
        Console.WriteLine($"dX where x > 0: {string.Join(",", dX.Where((_, i) => xs[i] > 0).Distinct())}; elsewhere: {string.Join(",", dX.Where((_, i) => xs[i] <= 0).Distinct())}");
        // end snippet
        Tutorial.AssertOutput("residual", console.Text);
        Assert.That(identity.ParameterCount(), Is.EqualTo(2 * (4 * 4 * 9 + 4) + 2 * 8));
    }

    [Test]
    public void ReceptiveFieldOfLeNet()
    {
        using var console = new ConsoleCapture();
        // snippet: receptive-field
        Console.Write(ReceptiveField.Format(ReceptiveField.Of(new LeNet5(), inputSize: 28)));
        // end snippet
        Tutorial.AssertOutput("receptive-field", console.Text);
        Assert.That(console.Text, Does.Contain("rf 16x16   jump 4x4"));
    }

    [Test]
    public void EdgeKernel()
    {
        using var console = new ConsoleCapture();
        // snippet: edges
        var demo = Demos.Edges(height: 3, width: 8);   // white (1) on the left, black (0) from column 4
        Console.Write(demo.Describe());
        // end snippet
        Tutorial.AssertOutput("edges", console.Text);
        Assert.That(demo.Output.ToArray().Count(v => v == 1f), Is.EqualTo(3));
    }

    [Test]
    public void VanishingGradients()
    {
        using var console = new ConsoleCapture();
        // snippet: gradient-flow
        // 9 conv layers with a sigmoid after each, trained for 3 steps on Shapes; gradient norm per layer.
        var net = new Sequential();
        for (int i = 0; i < 9; i++)
        {
            net.Add($"conv{i + 1}", new Conv2d(i == 0 ? 1 : 8, 8, 3, padding: 1, seed: i));
            net.Add($"sig{i + 1}", new Sigmoid());
        }
        net.Add("pool", new AdaptiveAvgPool2d(1)).Add("flatten", new Flatten()).Add("fc", new Linear(8, 5, seed: 9));

        var data = Shapes.Generate(48, seed: 2);
        var x = data.ImagesTensor().ToArray();
        var batches = Enumerable.Range(0, 3).Select(b =>
            (Tensor.FromArray(x[(b * 16 * 784)..((b + 1) * 16 * 784)], 16, 1, 28, 28), data.Labels[(b * 16)..((b + 1) * 16)].ToArray()));
        var report = GradientFlow.Record(net, new SoftmaxCrossEntropy(), new Sgd(net.Parameters(), lr: 0.05f), batches);
        foreach (var layer in report.Layers)
            Console.WriteLine($"{layer.Layer,-6} |grad| ~ 1e{Math.Round(Math.Log10(layer.MeanGradNorm))}");
        // end snippet
        Tutorial.AssertOutput("gradient-flow", console.Text);
        Assert.That(report.Layers[0].MeanGradNorm / report.Layers[8].MeanGradNorm, Is.LessThan(1e-4));
    }
}
