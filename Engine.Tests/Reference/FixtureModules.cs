using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;

namespace ConvEngine.Tests.PyTorchReference;

/// <summary>Builds the engine module, loss reduction or optimizer that matches a PyTorch fixture's kind and arguments.</summary>
public static class FixtureModules
{
    /// <summary>The engine layer for PyTorch class <paramref name="kind"/> constructed with <paramref name="a"/>, its parameters on <paramref name="device"/>.</summary>
    public static Module Layer(string kind, FixtureArgs a, IDevice device) => kind switch
    {
        "Conv2d" => Conv2d(a, device),
        "MaxPool2d" => new MaxPool2d(a.Int("kernel_size"), a.Int("stride"), a.Int("padding")),
        "AvgPool2d" => new AvgPool2d(a.Int("kernel_size"), a.Int("stride"), a.Int("padding"), a.Bool("count_include_pad")),
        "AdaptiveAvgPool2d" => new AdaptiveAvgPool2d(a.Pair("output_size").H, a.Pair("output_size").W),
        "BatchNorm2d" => new BatchNorm2d(a.Int("num_features"), a.Float("eps"), a.Float("momentum"), device),
        "BatchNorm1d" => new BatchNorm1d(a.Int("num_features"), a.Float("eps"), a.Float("momentum"), device),
        "Linear" => new Linear(a.Int("in_features"), a.Int("out_features"), a.Bool("bias"), device, seed: 1),
        "ReLU" => new ReLU(),
        "LeakyReLU" => new LeakyReLU(a.Float("negative_slope")),
        "ELU" => new ELU(a.Float("alpha")),
        "Sigmoid" => new Sigmoid(),
        "Tanh" => new Tanh(),
        "Flatten" => new Flatten(),
        "Residual" => new Residual(a.Int("in_channels"), a.Int("out_channels"), a.Bool("use_projection"), a.Int("stride"), device, seed: 1),
        _ => throw new InvalidDataException($"Fixture {a.CaseName}: unknown layer kind '{kind}'."),
    };

    private static Conv2d Conv2d(FixtureArgs a, IDevice device)
    {
        var k = a.Pair("kernel_size");
        var s = a.Pair("stride");
        var p = a.Pair("padding");
        var d = a.Pair("dilation");
        var mode = a.String("padding_mode") switch
        {
            "zeros" => PaddingMode.Zeros,
            "reflect" => PaddingMode.Reflect,
            "replicate" => PaddingMode.Replicate,
            var other => throw new InvalidDataException($"Fixture {a.CaseName}: unknown padding_mode '{other}'."),
        };
        int cin = a.Int("in_channels"), cout = a.Int("out_channels"), groups = a.Int("groups");
        bool bias = a.Bool("bias");
        // Square, symmetric cases use the int overload; the others the (H, W) overload, so both are exercised.
        bool square = k.H == k.W && s.H == s.W && p.H == p.W && d.H == d.W;
        return square
            ? new Conv2d(cin, cout, k.H, s.H, p.H, d.H, groups, bias, mode, device, seed: 1)
            : new Conv2d(cin, cout, k, s, p, d, groups, bias, mode, device, seed: 1);
    }

    /// <summary>The engine reduction for PyTorch's <c>reduction</c> argument (plus the seeds' <c>halfsum</c>).</summary>
    public static Reduction LossReduction(FixtureArgs a) => a.String("reduction") switch
    {
        "mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        "halfsum" => Reduction.HalfSum,
        var other => throw new InvalidDataException($"Fixture {a.CaseName}: unknown reduction '{other}'."),
    };

    /// <summary>The engine optimizer for PyTorch's SGD, Adam or AdamW with arguments <paramref name="a"/>.</summary>
    public static Optimizer Optimizer(string kind, FixtureArgs a, IEnumerable<Parameter> parameters)
    {
        float lr = a.Float("lr");
        float weightDecay = a.Float("weight_decay", 0f);
        return kind switch
        {
            "SGD" => new Sgd(parameters, lr, a.Float("momentum", 0f), weightDecay, a.Bool("nesterov", false), a.Float("dampening", 0f)),
            "Adam" => new Adam(parameters, lr, a.Float("beta1"), a.Float("beta2"), a.Float("eps"), weightDecay),
            "AdamW" => new AdamW(parameters, lr, a.Float("beta1"), a.Float("beta2"), a.Float("eps"), weightDecay),
            _ => throw new InvalidDataException($"Fixture {a.CaseName}: unknown optimizer kind '{kind}'."),
        };
    }
}
