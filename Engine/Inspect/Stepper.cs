using System.Collections;
using System.Globalization;
using System.Text;
using ConvEngine.Data;
using ConvEngine.Losses;
using ConvEngine.NN;
using ConvEngine.Optim;

namespace ConvEngine.Inspect;

// The stepper runs ONE training step (zero grads, forward, loss, backward, optimizer update) and records what every layer
// saw and produced. How: an IModuleObserver is attached to the model with Module.Observe for the duration of the step; the
// observer's AfterForward/AfterBackward callbacks copy the tensors of each LEAF module (the layers, not the containers)
// into TensorSnapshots. The optimizer update is recorded by copying every parameter before Step() and comparing after.
// The step runs completely inside Run; the events are then handed back as a list (the recording is done, nothing is lazy),
// so `foreach (var e in stepper.Run(x, labels))` walks a finished step in execution order:
//   Forward  (each leaf, forward order)   input, output, and the layer's parameters (weight, bias, …)
//   Loss     (one)                        input (logits), probabilities or target, dX = ∂L/∂logits, and the loss value
//   Backward (each leaf, reverse order)   dY, dX, and each parameter's gradient (weight.grad, …)
//   Update   (each leaf with parameters)  the new value (weight) and the update applied (weight.update = new − old)

/// <summary>The part of a training step an event describes.</summary>
public enum StepPhase
{
    /// <summary>A layer's forward pass: input and output.</summary>
    Forward,
    /// <summary>The loss: logits, probabilities, loss value and ∂L/∂logits.</summary>
    Loss,
    /// <summary>A layer's backward pass: dY, dX and the parameter gradients.</summary>
    Backward,
    /// <summary>The optimizer's update of one layer's parameters: new values and new − old.</summary>
    Update,
}

/// <summary>One recorded moment of a training step: a layer, a phase and snapshots (copies) of the tensors involved.</summary>
public sealed class StepEvent
{
    private readonly List<TensorSnapshot> _tensors;

    internal StepEvent(int index, StepPhase phase, string layer, string description, Module? module, List<TensorSnapshot> tensors, double? loss = null)
    {
        Index = index; Phase = phase; Layer = layer; Description = description; Module = module; _tensors = tensors; Loss = loss;
    }

    /// <summary>The position of the event in its step (0-based).</summary>
    public int Index { get; }

    /// <summary>The phase.</summary>
    public StepPhase Phase { get; }

    /// <summary>The layer's full name (<c>layer1.0.conv2</c>); <c>loss</c> for the loss event.</summary>
    public string Layer { get; }

    /// <summary>The layer's description (<c>Conv2d(1, 6, kernel_size=(5, 5), …)</c>) or the loss's.</summary>
    public string Description { get; }

    /// <summary>The layer itself; null for the loss event.</summary>
    public Module? Module { get; }

    /// <summary>The loss value (Loss phase only).</summary>
    public double? Loss { get; }

    /// <summary>The snapshots, in a fixed order per phase (see <see cref="Stepper"/>).</summary>
    public IReadOnlyList<TensorSnapshot> Tensors => _tensors;

    /// <summary>The snapshot with role <paramref name="role"/> (<c>input</c>, <c>output</c>, <c>dY</c>, <c>dX</c>, <c>weight</c>, <c>weight.grad</c>, <c>weight.update</c>, …).</summary>
    /// <param name="role">The role.</param>
    public TensorSnapshot this[string role] => TryGet(role) ??
        throw new KeyNotFoundException($"Event {Phase} '{Layer}' has no tensor '{role}'; it has: {string.Join(", ", _tensors.Select(t => t.Role))}.");

    /// <summary>The snapshot with role <paramref name="role"/>, or null.</summary>
    /// <param name="role">The role.</param>
    public TensorSnapshot? TryGet(string role) => _tensors.FirstOrDefault(t => t.Role == role);

    /// <summary>One line: index, phase, layer and the main tensor's statistics (output, dX, loss or the weight update).</summary>
    public override string ToString()
    {
        var main = Phase switch
        {
            StepPhase.Forward => TryGet("output"),
            StepPhase.Backward => TryGet("dX"),
            StepPhase.Loss => TryGet("dX"),
            _ => _tensors.FirstOrDefault(t => t.Role.EndsWith(".update", StringComparison.Ordinal)),
        };
        var lossPart = Loss is double l ? string.Create(CultureInfo.InvariantCulture, $"  loss={l:F6}") : "";
        return string.Create(CultureInfo.InvariantCulture, $"#{Index,-3} {Phase,-8} {Layer,-22} {main}{lossPart}");
    }

    /// <summary>A multi-line description: the header line and one line per snapshot.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"#{Index} {Phase} {Layer}: {Description}");
        if (Loss is double l) sb.Append(CultureInfo.InvariantCulture, $"  loss = {l:F6}");
        sb.AppendLine();
        foreach (var t in _tensors) sb.Append("    ").AppendLine(t.ToString());
        return sb.ToString();
    }
}

/// <summary>The events of one recorded training step, in execution order, and the step's loss.</summary>
public sealed class StepTrace : IReadOnlyList<StepEvent>
{
    private readonly List<StepEvent> _events;

    internal StepTrace(List<StepEvent> events, double loss)
    {
        _events = events;
        Loss = loss;
    }

    /// <summary>The loss of the step (before the update).</summary>
    public double Loss { get; }

    /// <summary>The number of events.</summary>
    public int Count => _events.Count;

    /// <summary>The event at <paramref name="index"/>.</summary>
    /// <param name="index">0-based.</param>
    public StepEvent this[int index] => _events[index];

    /// <summary>The events of one phase, in order.</summary>
    /// <param name="phase">The phase.</param>
    public IEnumerable<StepEvent> Of(StepPhase phase) => _events.Where(e => e.Phase == phase);

    /// <summary>The event of <paramref name="layer"/> in <paramref name="phase"/> (<c>loss</c> names the loss event).</summary>
    /// <param name="phase">The phase.</param>
    /// <param name="layer">The layer's full name.</param>
    public StepEvent Get(StepPhase phase, string layer) => _events.FirstOrDefault(e => e.Phase == phase && e.Layer == layer) ??
        throw new KeyNotFoundException($"No {phase} event for layer '{layer}'. Layers: {string.Join(", ", _events.Where(e => e.Phase == phase).Select(e => e.Layer))}.");

    /// <summary>Every event's <see cref="StepEvent.Describe"/>, in order.</summary>
    public string Describe() => string.Concat(_events.Select(e => e.Describe()));

    /// <summary>One line per event (<see cref="StepEvent.ToString"/>).</summary>
    public override string ToString() => string.Join(Environment.NewLine, _events.Select(e => e.ToString()));

    /// <inheritdoc/>
    public IEnumerator<StepEvent> GetEnumerator() => _events.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// Runs one training step of a model and records an event after each layer's forward (leaf modules, in execution order),
/// after the loss, after each layer's backward (reverse order) and after the optimizer update, with copies of every tensor
/// involved and their statistics.
/// </summary>
/// <remarks>
/// <para>Usage: <c>foreach (var e in new Stepper(model, loss, optimizer).Run(images, labels)) Console.WriteLine(e);</c></para>
/// <para>How it works: for the duration of <see cref="Run(Tensor, int[])"/> a recording <see cref="IModuleObserver"/> is attached
/// with <see cref="Module.Observe"/> (so the model must not have another observer attached); the whole step runs inside
/// <c>Run</c> and the returned <see cref="StepTrace"/> holds the finished recording. The step is real: gradients are zeroed
/// first, the parameters are updated (when an optimizer is given), batch-norm running statistics and dropout streams advance,
/// exactly as in training. Every tensor is copied, so a step of a large model on a large batch needs memory for all of its
/// activations and gradients.</para>
/// </remarks>
public sealed class Stepper
{
    private readonly Module _model;
    private readonly SoftmaxCrossEntropy? _ce;
    private readonly MseLoss? _mse;
    private readonly Optimizer? _optimizer;

    /// <summary>Creates a stepper for classification with softmax cross-entropy.</summary>
    /// <param name="model">The model (logits [N, K] out).</param>
    /// <param name="loss">The loss.</param>
    /// <param name="optimizer">The optimizer; null records no Update events and changes no parameter.</param>
    public Stepper(Module model, SoftmaxCrossEntropy loss, Optimizer? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        _model = model; _ce = loss; _optimizer = optimizer;
    }

    /// <summary>Creates a stepper for regression with a mean-squared-error loss.</summary>
    /// <param name="model">The model.</param>
    /// <param name="loss">The loss.</param>
    /// <param name="optimizer">The optimizer; null records no Update events and changes no parameter.</param>
    public Stepper(Module model, MseLoss loss, Optimizer? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        _model = model; _mse = loss; _optimizer = optimizer;
    }

    /// <summary>Runs and records one step on a batch of images with class labels (softmax cross-entropy stepper).</summary>
    /// <param name="images">The input batch (N, C, H, W).</param>
    /// <param name="labels">N class indices.</param>
    public StepTrace Run(Tensor images, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (_ce is null) throw new InvalidOperationException("This stepper has an MSE loss: call Run(input, target) with a target tensor.");
        return RunCore(images, (logits, ev) =>
        {
            var r = _ce.Compute(logits, labels);
            ev.Add(new TensorSnapshot("probabilities", Softmax(logits.ToArray(), logits.Dim(0)), logits.Shape));
            return r;
        });
    }

    /// <summary>Runs and records one step on a data-loader batch (softmax cross-entropy stepper).</summary>
    /// <param name="batch">The batch.</param>
    public StepTrace Run(Batch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Run(batch.Images, batch.Labels);
    }

    /// <summary>Runs and records one step against a target tensor (MSE stepper).</summary>
    /// <param name="input">The input batch.</param>
    /// <param name="target">The target, with the output's shape.</param>
    public StepTrace Run(Tensor input, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        if (_mse is null) throw new InvalidOperationException("This stepper has a cross-entropy loss: call Run(images, labels) with integer labels.");
        return RunCore(input, (output, ev) =>
        {
            var r = _mse.Compute(output, target);
            ev.Add(new TensorSnapshot("target", target));
            return r;
        });
    }

    private StepTrace RunCore(Tensor input, Func<Tensor, List<TensorSnapshot>, LossResult> loss)
    {
        var events = new List<StepEvent>();
        _model.ZeroGrad();
        _optimizer?.ZeroGrad();
        var recorder = new Recorder(events);
        LossResult result;
        using (_model.Observe(recorder))
        {
            var output = _model.Forward(input);
            var tensors = new List<TensorSnapshot> { new("input", output) };
            result = loss(output, tensors);
            tensors.Add(new TensorSnapshot("dX", result.Gradient));
            events.Add(new StepEvent(events.Count, StepPhase.Loss, "loss", ((object?)_ce ?? _mse!).ToString() ?? "loss", null, tensors, result.Loss));
            _model.Backward(result.Gradient);
        }
        if (_optimizer is not null)
        {
            var layers = recorder.ForwardOrder.Where(m => m.Parameters().Any()).ToList();
            var before = layers.SelectMany(m => m.Parameters()).Distinct().ToDictionary(p => p, p => p.Value.ToArray());
            _optimizer.Step();
            foreach (var m in layers)
            {
                var tensors = new List<TensorSnapshot>();
                foreach (var p in m.Parameters())
                {
                    var now = p.Value.ToArray();
                    var old = before[p];
                    var delta = new float[now.Length];
                    for (int i = 0; i < now.Length; i++) delta[i] = now[i] - old[i];
                    tensors.Add(new TensorSnapshot(p.LocalName, now, p.Shape, p.Name));
                    tensors.Add(new TensorSnapshot(p.LocalName + ".update", delta, p.Shape, p.Name + ".update"));
                }
                events.Add(new StepEvent(events.Count, StepPhase.Update, m.Name, m.ToString(), m, tensors));
            }
        }
        return new StepTrace(events, result.Loss);
    }

    internal static float[] Softmax(float[] logits, int n)
    {
        var p = new float[logits.Length];
        if (n == 0) return p;
        int k = logits.Length / n;
        for (int r = 0; r < n; r++)
        {
            float max = float.NegativeInfinity;
            for (int j = 0; j < k; j++) max = Math.Max(max, logits[r * k + j]);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.Exp(logits[r * k + j] - max);
            for (int j = 0; j < k; j++) p[r * k + j] = (float)(Math.Exp(logits[r * k + j] - max) / sum);
        }
        return p;
    }

    private sealed class Recorder(List<StepEvent> events) : IModuleObserver
    {
        public List<Module> ForwardOrder { get; } = [];

        public void AfterForward(Module module, Tensor input, Tensor output)
        {
            if (!module.IsLeaf) return;
            if (!ForwardOrder.Contains(module)) ForwardOrder.Add(module);
            var tensors = new List<TensorSnapshot> { new("input", input), new("output", output) };
            foreach (var p in module.Parameters()) tensors.Add(new TensorSnapshot(p.LocalName, p.Value));
            events.Add(new StepEvent(events.Count, StepPhase.Forward, module.Name, module.ToString(), module, tensors));
        }

        public void AfterBackward(Module module, Tensor dY, Tensor dX)
        {
            if (!module.IsLeaf) return;
            var tensors = new List<TensorSnapshot> { new("dY", dY), new("dX", dX) };
            foreach (var p in module.Parameters()) tensors.Add(new TensorSnapshot(p.LocalName + ".grad", p.Grad));
            events.Add(new StepEvent(events.Count, StepPhase.Backward, module.Name, module.ToString(), module, tensors));
        }
    }
}
