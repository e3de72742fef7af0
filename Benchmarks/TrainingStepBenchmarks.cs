using BenchmarkDotNet.Attributes;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.NN;
using ConvEngine.Optim;

namespace ConvEngine.Benchmarks;

/// <summary>
/// One whole training step (zero grad, forward, softmax cross-entropy, backward, SGD with momentum) of LeNet-5 (batch 64)
/// and ResNetSmall (batch 128) on 28x28 seeded data, with and without <see cref="Module.ReuseBuffers"/>. The
/// <c>Allocated</c> column is the managed allocation per step; images per second = batch / mean.
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private Module _model = null!;
    private Sgd _optimizer = null!;
    private readonly SoftmaxCrossEntropy _loss = new();
    private Tensor _x = null!;
    private int[] _labels = [];

    /// <summary>The network: <c>lenet5</c> (batch 64) or <c>resnet-small</c> (batch 128).</summary>
    [Params("lenet5", "resnet-small")]
    public string Model { get; set; } = "lenet5";

    /// <summary>Whether the layers reuse their output and dX buffers (what <c>Trainer</c> does).</summary>
    [Params(true, false)]
    public bool Reuse { get; set; }

    /// <summary>Builds the model and a seeded batch and runs two warm-up steps.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var device = CpuDevice.Default;
        int batch = Model == "lenet5" ? 64 : 128;
        _model = Model == "lenet5" ? new LeNet5(device: device, seed: 1) : new ResNetSmall(device: device, seed: 1);
        _model.ReuseBuffers(Reuse);
        _loss.ReuseBuffers(Reuse);
        _optimizer = new Sgd(_model.Parameters(), 0.01f, momentum: 0.9f);
        var rng = new Random(3);
        var data = new float[batch * 28 * 28];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        _x = Tensor.FromArray(device, data, batch, 1, 28, 28);
        _labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        Step();
        Step();
    }

    /// <summary>One training step.</summary>
    [Benchmark]
    public void Step()
    {
        _optimizer.ZeroGrad();
        var logits = _model.Forward(_x);
        _loss.Forward(logits, _labels);
        _model.Backward(_loss.Backward());
        _optimizer.Step();
    }
}
