using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using ConvEngine.Cli;
using ConvEngine.Cli.Imaging;
using ConvEngine.Data;
using ConvEngine.Models;
using ConvEngine.Serialization;
using NUnit.Framework;
using Spectre.Console;

namespace ConvEngine.Tests.Cli;

/// <summary>The teaching commands (<c>step</c>, <c>visualize</c>, <c>demo</c>) run in-process on the Shapes data set.</summary>
public class TeachingCommandTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "convengine-teach-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    /// <summary>
    /// Checks the PNG signature and the IHDR chunk, then decodes the whole file with the CLI's own PNG reader (which checks every
    /// chunk's CRC and inflates the pixels) and returns the size the header declares.
    /// </summary>
    private static (int Width, int Height) AssertPng(string path)
    {
        Assert.That(File.Exists(path), Is.True, $"{path} exists");
        var b = File.ReadAllBytes(path);
        Assert.That(b.Length, Is.GreaterThan(8 + 25), path);
        Assert.That(b[..8], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), $"{path}: PNG signature");
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)), Is.EqualTo(13), $"{path}: IHDR length");
        Assert.That(System.Text.Encoding.ASCII.GetString(b, 12, 4), Is.EqualTo("IHDR"), $"{path}: first chunk");
        int w = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), h = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20));
        Assert.That(w, Is.Positive, path);
        Assert.That(h, Is.Positive, path);
        var decoded = GrayImage.Decode(b, path);
        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((w, h)), $"{path}: decoded size equals the IHDR size");
        return (w, h);
    }

    private static XDocument AssertSvg(string path)
    {
        Assert.That(File.Exists(path), Is.True, $"{path} exists");
        var doc = XDocument.Load(path);
        Assert.That(doc.Root!.Name.LocalName, Is.EqualTo("svg"));
        return doc;
    }

    private static string Inv(double v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>A LeNet-5 checkpoint for the five Shapes classes with the metadata 'train' records (no training: seeded weights).</summary>
    private string WriteCheckpoint(out LeNet5 model)
    {
        model = new LeNet5(numClasses: 5, inChannels: 1, seed: 7);
        var path = Path.Combine(_dir, "lenet5.safetensors");
        Checkpoint.Save(path, model, null, new Dictionary<string, string>
        {
            ["model"] = "lenet5", ["data"] = "shapes", ["num_classes"] = "5", ["class_names"] = JsonSerializer.Serialize(Shapes.ClassNames),
            ["input_channels"] = "1", ["input_size"] = "28", ["normalize_mean"] = Inv(0.2f), ["normalize_std"] = Inv(0.25f),
        });
        return path;
    }

    private string[] Step(string outDir, params string[] extra) =>
        ["step", "--model", "lenet5", "--data", "shapes", "--batch-size", "4", "--threads", "1", "--no-pause", "--out", outDir, .. extra];

    [Test]
    public void StepPrintsEveryLayerInEveryPhaseInOrderAndWritesThePicturesOfTheStep()
    {
        string outDir = Path.Combine(_dir, "step");
        var r = CliTestHost.Run(Step(outDir));
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        Assert.That(r.Err, Is.Empty);
        Assert.That(r.Out, Does.Not.Contain("\u001b["), "redirected output has no ANSI codes");
        Assert.That(r.Out, Does.Not.Contain("Enter:"), "--no-pause never asks");

        // LeNet-5's leaves: forward in execution order, then the loss, backward in reverse, updates of the layers with parameters.
        string[] leaves = ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc1", "act3", "fc2", "act4", "fc3"];
        string[] withParams = ["conv1", "conv2", "fc1", "fc2", "fc3"];
        var expected = leaves.Select(l => $"Forward {l}:").Append("Loss loss:")
            .Concat(leaves.Reverse().Select(l => $"Backward {l}:")).Concat(withParams.Select(l => $"Update {l}:")).ToList();
        int at = -1;
        for (int i = 0; i < expected.Count; i++)
        {
            string heading = $"#{i} {expected[i]}";
            int next = r.Out.IndexOf(heading, StringComparison.Ordinal);
            Assert.That(next, Is.GreaterThan(at), $"'{heading}' is printed after the previous event");
            at = next;
        }
        Assert.That(r.Out, Does.Not.Contain($"#{expected.Count} "), "no more events than the leaves give");
        // The columns and the tensors of each phase.
        Assert.That(r.Out, Does.Contain("Tensor").And.Contain("Shape").And.Contain("Mean").And.Contain("Std").And.Contain("Min").And.Contain("Max")
                               .And.Contain("Zeros").And.Contain("L2 norm"));
        Assert.That(r.Out, Does.Contain("| input  | [4, 1, 28, 28]").And.Contain("| output | [4, 6, 28, 28]"));
        Assert.That(r.Out, Does.Contain("| weight.grad ").And.Contain("| dY ").And.Contain("| probabilities ").And.Contain("| weight.update "));
        Assert.That(r.Out, Does.Contain("Gradient flow of this step").And.Contain("loss of the step"));

        // The pictures: input and saliency are the 28x28 image at 4 pixels per pixel; filters and maps of both convolutions.
        Assert.That(AssertPng(Path.Combine(outDir, "input.png")), Is.EqualTo((112, 112)));
        Assert.That(AssertPng(Path.Combine(outDir, "saliency.png")), Is.EqualTo((112, 112)));
        foreach (var f in new[] { "filters_conv1.png", "filters_conv2.png", "maps_conv1.png", "maps_conv2.png" }) AssertPng(Path.Combine(outDir, f));
        var svg = AssertSvg(Path.Combine(outDir, "gradient_flow.svg"));
        var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value).ToList();
        foreach (var layer in withParams) Assert.That(texts, Does.Contain(layer), "the chart has one bar group per layer with parameters");
    }

    [Test]
    public void StepIsReproducibleForASeedAndPicksAnotherBatchForAnotherSeed()
    {
        string LossLine(string output) => output.Split('\n').Single(l => l.StartsWith("loss of the step", StringComparison.Ordinal));
        var a = CliTestHost.Run(Step(Path.Combine(_dir, "a"), "--seed", "3"));
        var b = CliTestHost.Run(Step(Path.Combine(_dir, "b"), "--seed", "3"));
        var c = CliTestHost.Run(Step(Path.Combine(_dir, "c"), "--seed", "4"));
        Assert.That(new[] { a.Exit, b.Exit, c.Exit }, Is.All.Zero, a.Err + b.Err + c.Err);
        Assert.That(a.Out.Replace(Path.Combine(_dir, "a"), ""), Is.EqualTo(b.Out.Replace(Path.Combine(_dir, "b"), "")), "same seed, same step");
        Assert.That(LossLine(c.Out), Is.Not.EqualTo(LossLine(a.Out)), "another seed gives other weights and another batch");
    }

    private static Tensor Conv1Weight(LeNet5 model) => model.Parameters().Single(p => p.Name == "conv1.weight").Value;

    [Test]
    public void StepFromACheckpointStartsFromItsWeights()
    {
        var ckpt = WriteCheckpoint(out var model);
        var r = CliTestHost.Run("step", "--checkpoint", ckpt, "--batch-size", "2", "--threads", "1", "--no-pause", "--out", Path.Combine(_dir, "s"));
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        Assert.That(r.Out, Does.Contain("LeNet-5 on shapes (weights from lenet5.safetensors)").And.Contain("(x − 0.2) / 0.25"));
        // The conv1 weight row of the first forward event shows the checkpoint's weights (a fresh seed-0 init would differ).
        var st = Conv1Weight(model).Stats();
        var fresh = Conv1Weight(new LeNet5(numClasses: 5, inChannels: 1, seed: 0)).Stats();
        Assert.That(StepCommand.Num(fresh.L2Norm), Is.Not.EqualTo(StepCommand.Num(st.L2Norm)), "the test can tell the two apart");
        string firstEvent = r.Out[r.Out.IndexOf("#0 Forward conv1", StringComparison.Ordinal)..r.Out.IndexOf("#1 Forward", StringComparison.Ordinal)];
        var weightRow = firstEvent.Split('\n').Single(l => l.StartsWith("| weight ", StringComparison.Ordinal));
        Assert.That(weightRow, Does.Contain(StepCommand.Num(st.L2Norm)).And.Contain(StepCommand.Num(st.Mean)));
    }

    [Test]
    public void StepWaitsForEnterBetweenEventsOnlyOnATerminal()
    {
        // A terminal context: interactive output and input; the answers come from a reader. Two Enters, then 'c' runs to the end.
        (string Out, string Unread) RunWith(bool noPause, bool inputInteractive)
        {
            var stdout = new StringWriter();
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
            });
            var input = new StringReader("\n\nc\nleft over\n");
            var args = new List<string>(Step(Path.Combine(_dir, "p")));
            if (!noPause) args.Remove("--no-pause");
            int exit = CliApp.Run([.. args], new CliContext
            {
                Console = console, Out = stdout, Error = stdout, Interactive = true, In = input, InputInteractive = inputInteractive,
            });
            Assert.That(exit, Is.Zero, stdout.ToString());
            return (stdout.ToString(), input.ReadToEnd());
        }
        static int Count(string s, string what) => (s.Length - s.Replace(what, "").Length) / what.Length;

        var paused = RunWith(noPause: false, inputInteractive: true);
        Assert.That(Count(paused.Out, "Enter: next event"), Is.EqualTo(3), "asked after events 0, 1 and 2, then 'c' stops asking");
        Assert.That(paused.Unread, Is.EqualTo("left over\n"), "read exactly three answers");
        Assert.That(paused.Out, Does.Contain("Update fc3"), "ran to the end");

        var noPauseRun = RunWith(noPause: true, inputInteractive: true);
        Assert.That(noPauseRun.Out, Does.Not.Contain("Enter:"));
        Assert.That(noPauseRun.Unread, Is.EqualTo("\n\nc\nleft over\n"), "--no-pause reads nothing");

        var redirected = RunWith(noPause: false, inputInteractive: false);
        Assert.That(redirected.Out, Does.Not.Contain("Enter:"));
        Assert.That(redirected.Unread, Is.EqualTo("\n\nc\nleft over\n"), "redirected input is never read");
    }

    [Test]
    public void VisualizeWritesFiltersFeatureMapsAndSaliencyForAnImage()
    {
        var ckpt = WriteCheckpoint(out _);
        var shapes = Shapes.Generate(1, seed: 5);
        var png = Path.Combine(_dir, "shape.png");
        // A 40x40 RGB picture of a Shapes image (upsampled, gray in all three channels): exercises resizing and colour conversion.
        var gray = new GrayImage(28, 28, shapes.Image(0).ToArray()).Resize(40, 40);
        var rgb = gray.Pixels.SelectMany(p => Enumerable.Repeat((byte)Math.Round(p * 255), 3)).ToArray();
        File.WriteAllBytes(png, ConvEngine.Cli.Imaging.Png.Encode(40, 40, rgb, 3));
        string outDir = Path.Combine(_dir, "vis");

        var r = CliTestHost.Run("visualize", "--checkpoint", ckpt, "--image", png, "--out", outDir);
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        Assert.That(r.Out, Does.Contain("shape.png (40x40 → 28x28) with LeNet-5: predicted"));
        Assert.That(Shapes.ClassNames.Any(n => r.Out.Contains($"predicted {n} (", StringComparison.Ordinal)), Is.True, "names a class");
        Assert.That(AssertPng(Path.Combine(outDir, "input.png")), Is.EqualTo((112, 112)));
        Assert.That(AssertPng(Path.Combine(outDir, "saliency.png")), Is.EqualTo((112, 112)));
        foreach (var f in new[] { "filters_conv1.png", "filters_conv2.png", "maps_conv1.png", "maps_conv2.png" }) AssertPng(Path.Combine(outDir, f));
        Assert.That(r.Out, Does.Contain("filters_conv1.png").And.Contain("maps_conv2.png").And.Contain("saliency.png"), "lists what it wrote");

        // The redrawn input is the image the model saw before normalisation (not the normalised tensor clamped to 0..255).
        var input = GrayImage.Decode(File.ReadAllBytes(Path.Combine(outDir, "input.png")));
        var resized = gray.Resize(28, 28);
        Assert.That(input.Pixels[(4 * 14 + 1) * 112 + 4 * 14 + 1], Is.EqualTo(resized.Pixels[14 * 28 + 14]).Within(1.5 / 255));
    }

    [TestCase("edges", 80, 48, 72, 48)]       // 6x10 input, 1x2 kernel → 6x9 output, 8 pixels per value
    [TestCase("rgb-edges", 128, 128, 112, 112)] // 16x16 RGB input, 3x3 kernel → 14x14
    [TestCase("blur", 224, 224, 208, 208)]     // 28x28 Shapes image, 3x3 mean → 26x26
    public void DemoPrintsInputKernelOutputAndSavesThem(string name, int inW, int inH, int outW, int outH)
    {
        string outDir = Path.Combine(_dir, "demo");
        var r = CliTestHost.Run("demo", name, "--out", outDir);
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        int k = r.Out.IndexOf("kernel [1, ", StringComparison.Ordinal), i = r.Out.IndexOf("input [1, ", StringComparison.Ordinal), o = r.Out.IndexOf("output [1, 1, ", StringComparison.Ordinal);
        Assert.That(k, Is.Not.Negative);
        Assert.That(i, Is.GreaterThan(k));
        Assert.That(o, Is.GreaterThan(i));
        Assert.That(AssertPng(Path.Combine(outDir, name + "_input.png")), Is.EqualTo((inW, inH)));
        Assert.That(AssertPng(Path.Combine(outDir, name + "_output.png")), Is.EqualTo((outW, outH)));
        AssertPng(Path.Combine(outDir, name + "_kernel.png"));
    }

    [Test]
    public void EdgesDemoShowsTheEdgeWhereWhiteMeetsBlack()
    {
        var r = CliTestHost.Run("demo", "edges", "--out", Path.Combine(_dir, "d"));
        Assert.That(r.Exit, Is.Zero, r.Err);
        var lines = r.Out.Split('\n');
        int k = Array.FindIndex(lines, l => l.StartsWith("kernel", StringComparison.Ordinal));
        Assert.That(lines[k + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "1", "-1" }));
        int o = Array.FindIndex(lines, l => l.StartsWith("output", StringComparison.Ordinal));
        for (int row = 1; row <= 6; row++)
            Assert.That(lines[o + row].Split(' ', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "0", "0", "0", "0", "0", "1", "0", "0", "0" }));
    }

    [Test]
    public void HelpListsTheTeachingCommands()
    {
        var r = CliTestHost.Run("--help");
        Assert.That(r.Exit, Is.Zero);
        Assert.That(r.Out, Does.Contain("step").And.Contain("visualize").And.Contain("demo"));
    }

    [TestCase(new[] { "step", "--model", "lenet6" }, "lenet6")]
    [TestCase(new[] { "step", "--batch-size", "0" }, "--batch-size must be at least 1")]
    [TestCase(new[] { "step", "--lr", "-1" }, "--lr must be positive")]
    [TestCase(new[] { "step", "--optimizer", "rmsprop" }, "rmsprop")]
    [TestCase(new[] { "step", "--data", "/nonexistent/folder" }, "neither fashion-mnist")]
    [TestCase(new[] { "step", "--checkpoint", "missing.safetensors" }, "does not exist")]
    [TestCase(new[] { "visualize" }, "--checkpoint")]
    [TestCase(new[] { "visualize", "--checkpoint", "missing.safetensors" }, "--image")]
    [TestCase(new[] { "visualize", "--checkpoint", "missing.safetensors", "--image", "missing.png" }, "does not exist")]
    [TestCase(new[] { "demo" }, "Required argument missing")]
    [TestCase(new[] { "demo", "sharpen" }, "sharpen")]
    [TestCase(new[] { "demo", "edges", "blur" }, "blur")]
    public void BadArgumentsGiveOneErrorLineAndANonZeroExit(string[] args, string expected) =>
        CliTestHost.AssertOneLineError(CliTestHost.Run(args), expected);

    [Test]
    public void VisualizeRefusesACorruptImageAndAMismatchedModel()
    {
        var ckpt = WriteCheckpoint(out _);
        var bad = Path.Combine(_dir, "bad.png");
        File.WriteAllBytes(bad, ConvEngine.Cli.Imaging.Png.Encode(2, 2, [1, 2, 3, 4], 1)[..30]);
        CliTestHost.AssertOneLineError(CliTestHost.Run("visualize", "--checkpoint", ckpt, "--image", bad, "--out", Path.Combine(_dir, "v")), "bad.png");
        var pgm = Path.Combine(_dir, "img.pgm");
        File.WriteAllBytes(pgm, Pgm.EncodeP5(new GrayImage(28, 28, Shapes.Generate(1, seed: 1).Image(0).ToArray())));
        CliTestHost.AssertOneLineError(CliTestHost.Run("visualize", "--checkpoint", ckpt, "--model", "resnet-small", "--image", pgm), "holds a lenet5");
        Assert.That(Directory.Exists(Path.Combine(_dir, "v")), Is.False, "nothing written on failure");
    }
}
