using ConvEngine.Cli;
using ConvEngine.Cli.Imaging;
using ConvEngine.Data;
using ConvEngine.Models;
using NUnit.Framework;

namespace ConvEngine.Tests.Cli;

public class CliTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "convengine-cli-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    [TestCase(new[] { "train", "--epochs", "0" }, "--epochs must be at least 1")]
    [TestCase(new[] { "train", "--epochs", "three" }, "three")]
    [TestCase(new[] { "train", "--model", "lenet6" }, "lenet6")]
    [TestCase(new[] { "train", "--optimizer", "rmsprop" }, "rmsprop")]
    [TestCase(new[] { "train", "--lr", "-1" }, "--lr must be positive")]
    [TestCase(new[] { "train", "--limit-train", "0" }, "--limit-train must be at least 1")]
    [TestCase(new[] { "train", "--bogus" }, "--bogus")]
    [TestCase(new[] { "frobnicate" }, "frobnicate")]
    [TestCase(new[] { "train", "--data", "shapes", "--device", "tpu" }, "--device")]
    [TestCase(new[] { "summary" }, "--model")]
    [TestCase(new[] { "summary", "--model", "lenet5", "--input", "1x28" }, "--input must look like")]
    [TestCase(new[] { "predict", "--checkpoint", "missing.safetensors", "--image", "missing.png" }, "does not exist")]
    [TestCase(new[] { "eval", "--checkpoint", "missing.safetensors" }, "does not exist")]
    public void BadArgumentsGiveOneErrorLineAndANonZeroExit(string[] args, string expected) =>
        CliTestHost.AssertOneLineError(CliTestHost.Run(args), expected);

    [Test]
    public void TrainRefusesAFolderAsOutputFileBeforeTraining()
    {
        // A folder where a file is expected used to fail only after the whole run, when the checkpoint was written.
        var r = CliTestHost.Run("train", "--data", "shapes", "--limit-train", "64", "--limit-test", "16", "--epochs", "1", "--out", _dir);
        CliTestHost.AssertOneLineError(r, "is a folder");
        Assert.That(r.Exit, Is.EqualTo(CliApp.ExitUsage));
        Assert.That(r.Out, Does.Not.Contain("epoch 1/1"), "nothing was trained");
        var c = CliTestHost.Run("train", "--data", "shapes", "--limit-train", "64", "--limit-test", "16", "--epochs", "1", "--out", "none", "--curves", _dir);
        CliTestHost.AssertOneLineError(c, "--curves");
    }

    [Test]
    public void TrainOnAMissingDataFolderFailsCleanly()
    {
        var r = CliTestHost.Run("train", "--data", Path.Combine(_dir, "nope"), "--epochs", "1");
        CliTestHost.AssertOneLineError(r, "neither fashion-mnist");
        Assert.That(r.Exit, Is.EqualTo(CliApp.ExitUsage));
    }

    private static void WriteIdx(string dir, string prefix, Dataset d)
    {
        static byte[] Header(int magic, params int[] dims)
        {
            var h = new byte[4 + 4 * dims.Length];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(h, magic);
            for (int i = 0; i < dims.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), dims[i]);
            return h;
        }
        var px = d.Images.ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray();
        File.WriteAllBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte"), [.. Header(0x803, d.Count, d.Height, d.Width), .. px]);
        File.WriteAllBytes(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte"), [.. Header(0x801, d.Count), .. d.Labels.ToArray().Select(l => (byte)l)]);
    }

    [Test]
    public void TrainsOnAFolderOfIdxFilesWithClassesFromTheLabels()
    {
        var data = Directory.CreateDirectory(Path.Combine(_dir, "mydata")).FullName;
        WriteIdx(data, "train", Shapes.Generate(64, seed: 1));
        WriteIdx(data, "t10k", Shapes.Generate(20, seed: 2));
        string ckpt = Path.Combine(_dir, "m.safetensors");
        var r = CliTestHost.Run("train", "--model", "keras-cnn", "--data", data, "--epochs", "1", "--batch-size", "16", "--threads", "1",
                                "--out", ckpt, "--curves", "none", "--optimizer", "sgd", "--schedule", "step", "--warmup", "0");
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        Assert.That(r.Out, Does.Contain("on mydata").And.Contain("5 classes").And.Contain("sgd lr 0.05"));
        var meta = CheckpointInfo.Read(ckpt);
        Assert.That(meta.ClassNames, Is.EqualTo(new[] { "0", "1", "2", "3", "4" }));
        Assert.That(meta.Model, Is.EqualTo("keras-cnn"));
    }

    [TestCase("reference")]
    [TestCase("opencl")]
    public void TrainsOnTheDeviceNamedByDeviceOption(string device)
    {
        if (device == "opencl" && !ConvEngine.Gpu.Devices.List().Any(d => d.Kind == "opencl"))
            Assert.Ignore("no OpenCL device: install pocl-opencl-icd ocl-icd-libopencl1");
        var r = CliTestHost.Run("train", "--data", "shapes", "--limit-train", "64", "--limit-test", "16", "--epochs", "1", "--batch-size", "16",
                                "--out", "none", "--curves", "none", "--device", device);
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        Assert.That(r.Out, Does.Contain("test accuracy"));
    }

    [Test]
    public void CancelledTrainingExitsWith130AndOneLine()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = CliTestHost.Run(cts.Token, "train", "--data", "shapes", "--limit-train", "64", "--limit-test", "16", "--epochs", "1",
                                "--out", "none", "--curves", "none", "--threads", "1");
        CliTestHost.AssertOneLineError(r, "cancelled");
        Assert.That(r.Exit, Is.EqualTo(CliApp.ExitCancelled));
    }

    [Test]
    public void NoArgumentsShowsTheCommandsAndExitsWithTheUsageCode()
    {
        var r = CliTestHost.Run();
        Assert.That(r.Exit, Is.EqualTo(CliApp.ExitUsage));
        Assert.That(r.Out, Does.Contain("train").And.Contain("eval").And.Contain("predict").And.Contain("summary"));
    }

    [Test]
    public void HelpExitsZero()
    {
        var r = CliTestHost.Run("train", "--help");
        Assert.That(r.Exit, Is.Zero);
        Assert.That(r.Out, Does.Contain("--batch-size").And.Contain("--schedule"));
    }

    [Test]
    public void SummaryPrintsLeNet5ReceptiveFieldsAndTotals()
    {
        var r = CliTestHost.Run("summary", "--model", "lenet5");
        Assert.That(r.Exit, Is.Zero, r.Err);
        Assert.That(r.Out, Does.Contain("conv1").And.Contain("[1, 6, 28, 28]").And.Contain("61,706"));
    }

    [Test]
    public void TrainEvalPredictEndToEndOnShapes()
    {
        string ckpt = Path.Combine(_dir, "m.safetensors"), curves = Path.Combine(_dir, "c.svg");
        var train = CliTestHost.Run("train", "--model", "lenet5", "--data", "shapes", "--epochs", "2", "--batch-size", "32",
                                    "--limit-train", "320", "--limit-test", "100", "--threads", "1", "--out", ckpt, "--curves", curves);
        Assert.That(train.Exit, Is.Zero, train.Err + train.Out);
        Assert.That(train.Out, Does.Contain("epoch 1/2").And.Contain("epoch 2/2").And.Contain("test accuracy").And.Contain("circle"));
        // Redirected output: plain progress lines at every 20 % of an epoch (10 batches: after batches 2, 4, 6, 8), no ANSI codes.
        Assert.That(train.Out, Does.Contain("epoch 1/2 batch 2/10:").And.Contain("epoch 2/2 batch 8/10:"));
        Assert.That(train.Out, Does.Not.Contain("\u001b["));
        Assert.That(File.Exists(ckpt) && File.Exists(curves));
        Assert.DoesNotThrow(() => System.Xml.Linq.XDocument.Load(curves));
        var meta = CheckpointInfo.Read(ckpt);
        Assert.That(meta.Model, Is.EqualTo("lenet5"));
        Assert.That(meta.ClassNames, Is.EqualTo(Shapes.ClassNames));
        Assert.That(meta.Metadata["epochs"], Is.EqualTo("2"));

        var eval = CliTestHost.Run("eval", "--checkpoint", ckpt, "--threads", "1", "--limit-test", "100");
        Assert.That(eval.Exit, Is.Zero, eval.Err);
        Assert.That(eval.Out, Does.Contain("accuracy").And.Contain("100 test images").And.Contain("ring"));
        // The accuracy eval reports equals the one recorded at the end of training.
        double recorded = double.Parse(meta.Metadata["test_accuracy"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(eval.Out, Does.Contain((100 * recorded).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "%"));

        var shapes = Shapes.Generate(3, seed: 9);
        var pgm = Path.Combine(_dir, "img.pgm");
        File.WriteAllBytes(pgm, Pgm.EncodeP5(new GrayImage(28, 28, shapes.Image(0).ToArray())));
        var predict = CliTestHost.Run("predict", "--checkpoint", ckpt, "--image", pgm);
        Assert.That(predict.Exit, Is.Zero, predict.Err);
        foreach (var name in Shapes.ClassNames) Assert.That(predict.Out, Does.Contain(name), "top-5 of 5 classes lists them all");

        var wrongModel = CliTestHost.Run("predict", "--checkpoint", ckpt, "--model", "resnet-small", "--image", pgm);
        CliTestHost.AssertOneLineError(wrongModel, "holds a lenet5");
        var corrupt = Path.Combine(_dir, "bad.png");
        File.WriteAllBytes(corrupt, Png.Encode(2, 2, [1, 2, 3, 4], 1)[..30]);
        CliTestHost.AssertOneLineError(CliTestHost.Run("predict", "--checkpoint", ckpt, "--image", corrupt), "bad.png");
    }
}
