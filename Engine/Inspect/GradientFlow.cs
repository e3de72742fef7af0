using System.Globalization;
using System.Text;
using ConvEngine.Data;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;

namespace ConvEngine.Inspect;

// Gradient flow over N real training steps. For every leaf layer that has parameters (in forward execution order) and every
// step t, with all of the layer's parameters taken together as one vector w:
//   gradient norm      ‖∂L/∂w‖₂                 (after backward, before the update)
//   weight norm        ‖w‖₂                     (before the update)
//   update norm        ‖w_new − w_old‖₂         (what the optimizer actually applied)
//   update/weight      ‖Δw‖ / ‖w‖               (rule of thumb: around 1e-3 per step is healthy; 1e-6 means the layer barely learns)
// Vanishing gradients show as gradient norms that shrink by orders of magnitude from the last layer back to the first.

/// <summary>The gradient-flow record of one layer over the recorded steps.</summary>
/// <param name="Layer">The layer's full name.</param>
/// <param name="Type">The layer's description.</param>
/// <param name="ParameterCount">The number of learnable values in the layer.</param>
/// <param name="GradNorm">‖∂L/∂w‖ per step.</param>
/// <param name="WeightNorm">‖w‖ before each step's update.</param>
/// <param name="UpdateNorm">‖w_new − w_old‖ per step.</param>
public sealed record LayerFlow(string Layer, string Type, long ParameterCount, double[] GradNorm, double[] WeightNorm, double[] UpdateNorm)
{
    /// <summary>‖Δw‖/‖w‖ per step (0 where ‖w‖ = 0).</summary>
    public double[] UpdateRatio => UpdateNorm.Select((u, i) => WeightNorm[i] > 0 ? u / WeightNorm[i] : 0).ToArray();

    /// <summary>The mean gradient norm over the steps.</summary>
    public double MeanGradNorm => GradNorm.Length == 0 ? 0 : GradNorm.Average();

    /// <summary>The mean update-to-weight ratio over the steps.</summary>
    public double MeanUpdateRatio => GradNorm.Length == 0 ? 0 : UpdateRatio.Average();
}

/// <summary>The result of <see cref="GradientFlow.Record(Module, SoftmaxCrossEntropy, Optimizer, IEnumerable{ValueTuple{Tensor, int[]}}, int)"/>.</summary>
public sealed class GradientFlowReport
{
    internal GradientFlowReport(IReadOnlyList<LayerFlow> layers, IReadOnlyList<double> losses)
    {
        Layers = layers;
        Losses = losses;
    }

    /// <summary>The layers with parameters, in forward execution order.</summary>
    public IReadOnlyList<LayerFlow> Layers { get; }

    /// <summary>The loss of each recorded step.</summary>
    public IReadOnlyList<double> Losses { get; }

    /// <summary>The number of recorded steps.</summary>
    public int Steps => Losses.Count;

    /// <summary>The record of layer <paramref name="layer"/>.</summary>
    /// <param name="layer">The full name.</param>
    public LayerFlow this[string layer] => Layers.FirstOrDefault(l => l.Layer == layer) ??
        throw new KeyNotFoundException($"No layer '{layer}'. Layers: {string.Join(", ", Layers.Select(l => l.Layer))}.");

    /// <summary>A text table: one line per layer with the mean gradient norm and the mean update/weight ratio.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"layer",-22} {"params",8} {"mean |grad|",12} {"mean |dw|/|w|",14}");
        foreach (var l in Layers)
            sb.AppendLine(CultureInfo.InvariantCulture, $"{l.Layer,-22} {l.ParameterCount,8} {l.MeanGradNorm,12:E2} {l.MeanUpdateRatio,14:E2}");
        return sb.ToString();
    }

    /// <summary>
    /// The mean gradient norm per layer as a chart series (x = position of the layer from the input, 0-based), for comparing
    /// models of different layouts in one <see cref="SvgChart.Line"/> with a log y axis.
    /// </summary>
    /// <param name="name">The legend text.</param>
    /// <param name="filter">Which layers to include (default all), e.g. only the convolutions.</param>
    public ChartSeries GradNormSeries(string name, Func<LayerFlow, bool>? filter = null) =>
        new(name, Layers.Where(filter ?? (_ => true)).Select(l => l.MeanGradNorm).ToList());

    /// <summary>A bar chart (SVG, log scale) of the mean gradient norm and the mean update/weight ratio per layer.</summary>
    /// <param name="title">The chart title.</param>
    public string ToSvg(string title = "Gradient flow") => SvgChart.Bars(
        Layers.Select(l => l.Layer).ToList(),
        [new ChartSeries("mean |grad|", Layers.Select(l => l.MeanGradNorm).ToList()), new ChartSeries("mean |dw|/|w|", Layers.Select(l => l.MeanUpdateRatio).ToList())],
        title, "log10 scale", logY: true);
}

/// <summary>Records per-layer gradient norms and update-to-weight ratios over real training steps.</summary>
public static class GradientFlow
{
    /// <summary>
    /// Trains <paramref name="model"/> for up to <paramref name="steps"/> batches (zero grads, forward, loss, backward, step:
    /// the model IS trained) and records the gradient flow of every leaf layer with parameters.
    /// </summary>
    /// <param name="model">The model; its observer slot must be free (the layer order is taken with an observer in the first step).</param>
    /// <param name="loss">The loss.</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="batches">The batches (images, labels); enumeration stops after <paramref name="steps"/>.</param>
    /// <param name="steps">The most steps to record.</param>
    public static GradientFlowReport Record(Module model, SoftmaxCrossEntropy loss, Optimizer optimizer, IEnumerable<(Tensor Images, int[] Labels)> batches, int steps = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(batches);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "At least one step is needed.");
        List<Module>? layers = null;
        var grad = new List<List<double>>(); var weight = new List<List<double>>(); var update = new List<List<double>>();
        var losses = new List<double>();
        foreach (var (images, labels) in batches)
        {
            if (losses.Count >= steps) break;
            optimizer.ZeroGrad();
            model.ZeroGrad();
            Tensor logits;
            if (layers is null)
            {
                var order = new OrderObserver();
                using (model.Observe(order)) logits = model.Forward(images);
                layers = order.Order.Where(m => m.Parameters().Any()).ToList();
                foreach (var _ in layers) { grad.Add([]); weight.Add([]); update.Add([]); }
            }
            else logits = model.Forward(images);
            var r = loss.Compute(logits, labels);
            model.Backward(r.Gradient);
            var before = new List<float[][]>();
            for (int i = 0; i < layers.Count; i++)
            {
                var ps = layers[i].Parameters().ToList();
                grad[i].Add(Math.Sqrt(ps.Sum(p => p.Grad.Device.SumOfSquares(p.Grad))));
                weight[i].Add(Math.Sqrt(ps.Sum(p => p.Value.Device.SumOfSquares(p.Value))));
                before.Add(ps.Select(p => p.Value.ToArray()).ToArray());
            }
            optimizer.Step();
            for (int i = 0; i < layers.Count; i++)
            {
                var ps = layers[i].Parameters().ToList();
                double sq = 0;
                for (int j = 0; j < ps.Count; j++)
                {
                    var now = ps[j].Value.ToArray();
                    for (int e = 0; e < now.Length; e++) { double d = (double)now[e] - before[i][j][e]; sq += d * d; }
                }
                update[i].Add(Math.Sqrt(sq));
            }
            losses.Add(r.Loss);
        }
        if (layers is null) throw new ArgumentException("No batches were given.", nameof(batches));
        var flows = layers.Select((m, i) => new LayerFlow(m.Name, m.ToString(), m.ParameterCount(), grad[i].ToArray(), weight[i].ToArray(), update[i].ToArray())).ToList();
        return new GradientFlowReport(flows, losses);
    }

    /// <summary>As <see cref="Record(Module, SoftmaxCrossEntropy, Optimizer, IEnumerable{ValueTuple{Tensor, int[]}}, int)"/>, over data-loader batches.</summary>
    /// <param name="model">The model.</param>
    /// <param name="loss">The loss.</param>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="batches">The batches, e.g. one epoch of a <see cref="DataLoader"/>.</param>
    /// <param name="steps">The most steps to record.</param>
    public static GradientFlowReport Record(Module model, SoftmaxCrossEntropy loss, Optimizer optimizer, IEnumerable<Batch> batches, int steps = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(batches);
        return Record(model, loss, optimizer, batches.Select(b => (b.Images, b.Labels)), steps);
    }

    private sealed class OrderObserver : IModuleObserver
    {
        public List<Module> Order { get; } = [];
        public void AfterForward(Module module, Tensor input, Tensor output)
        {
            if (module.IsLeaf && !Order.Contains(module)) Order.Add(module);
        }
        public void AfterBackward(Module module, Tensor dY, Tensor dX) { }
    }
}
