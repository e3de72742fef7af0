namespace ConvEngine.NN;

/// <summary>Sees every forward and backward pass of the modules it observes (see <see cref="Module.Observe"/>).</summary>
public interface IModuleObserver
{
    /// <summary>Called after <paramref name="module"/> computed <paramref name="output"/> from <paramref name="input"/>.</summary>
    void AfterForward(Module module, Tensor input, Tensor output);

    /// <summary>Called after <paramref name="module"/> computed dX (<paramref name="dX"/>) from dY (<paramref name="dY"/>).</summary>
    void AfterBackward(Module module, Tensor dY, Tensor dX);
}

/// <summary>
/// The base of every layer and model. A module owns named parameters, buffers and child modules (PyTorch's naming),
/// computes <see cref="Forward"/>, caches what its backward pass needs, and in <see cref="Backward"/> returns dX and
/// accumulates (+=) its parameters' gradients, which <see cref="ZeroGrad"/> clears. A layer implements
/// <see cref="ForwardCore"/> and <see cref="BackwardCore"/>; the public methods add observation (<see cref="Observe"/>).
/// </summary>
/// <remarks>
/// Backward uses the cache of the most recent Forward; calling Backward twice after one Forward adds the parameter
/// gradients twice and returns the same dX both times. Backward before any Forward throws <see cref="InvalidOperationException"/>.
/// </remarks>
public abstract class Module
{
    private readonly List<Parameter> _parameters = [];
    private readonly List<(string LocalName, Tensor Tensor)> _buffers = [];
    private readonly List<(string LocalName, Module Module)> _children = [];

    /// <summary>The module's full dotted name in its model (<c>layer1.0.conv1</c>); empty for the root.</summary>
    public string Name { get; private set; } = "";

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool IsTraining { get; private set; } = true;

    private IModuleObserver? _observer;

    /// <summary>Computes the output for input <paramref name="x"/> and caches what <see cref="Backward"/> needs.</summary>
    /// <param name="x">The input tensor.</param>
    /// <remarks>
    /// Thread safety: in eval mode (<see cref="Eval"/>) a model's Forward may run on many threads at once and gives the same
    /// result as on one thread. A training-mode Forward or Backward entered while another thread is inside a training-mode
    /// Forward or Backward of the same module throws <see cref="InvalidOperationException"/> naming the module (training
    /// writes caches and gradients that two threads would corrupt).
    /// </remarks>
    public Tensor Forward(Tensor x)
    {
        bool owned = IsTraining && Enter(nameof(Forward));
        try
        {
            var y = ForwardCore(x);
            _observer?.AfterForward(this, x, y);
            return y;
        }
        finally
        {
            if (owned) Volatile.Write(ref _trainingThread, 0);
        }
    }

    /// <summary>Given dY = ∂L/∂output, returns dX = ∂L/∂input and accumulates parameter gradients (+=).</summary>
    /// <param name="dY">The gradient of the loss with respect to the last output; same shape as that output.</param>
    /// <remarks>In training mode one thread at a time (see <see cref="Forward"/>).</remarks>
    public Tensor Backward(Tensor dY)
    {
        bool owned = IsTraining && Enter(nameof(Backward));
        try
        {
            var dX = BackwardCore(dY);
            _observer?.AfterBackward(this, dY, dX);
            return dX;
        }
        finally
        {
            if (owned) Volatile.Write(ref _trainingThread, 0);
        }
    }

    // The managed thread id of the thread inside a training-mode Forward/Backward of this module, 0 when none. One
    // CompareExchange per call: it detects two threads overlapping in the same module (the root is entered first, so two
    // training loops on one model collide there), not a strict alternation of whole steps between threads.
    private int _trainingThread;

    /// <summary>Claims the module for the calling thread; false when this thread already holds it (a nested call).</summary>
    private bool Enter(string phase)
    {
        int me = Environment.CurrentManagedThreadId;
        int owner = Interlocked.CompareExchange(ref _trainingThread, me, 0);
        if (owner == 0) return true;
        if (owner == me) return false;
        throw new InvalidOperationException(
            $"{GetType().Name} '{(Name.Length == 0 ? "(root)" : Name)}': training-mode {phase} on thread {me} while thread {owner} is inside a training-mode " +
            "Forward or Backward of the same module. Training one model from several threads at once would corrupt its caches and " +
            "gradients; train each model on one thread at a time (eval-mode Forward, after Eval(), may run on many threads).");
    }

    /// <summary>The layer's forward pass (what <see cref="Forward"/> runs before notifying observers).</summary>
    /// <param name="x">The input tensor.</param>
    protected abstract Tensor ForwardCore(Tensor x);

    /// <summary>The layer's backward pass (what <see cref="Backward"/> runs before notifying observers).</summary>
    /// <param name="dY">The gradient of the loss with respect to the last output.</param>
    protected abstract Tensor BackwardCore(Tensor dY);

    /// <summary>
    /// Attaches <paramref name="observer"/> to this module and every descendant, so it sees each forward and backward
    /// (the stepper, numeric guards and inspectors use this). Disposing the result detaches it. One observer at a time.
    /// </summary>
    /// <param name="observer">The observer.</param>
    public IDisposable Observe(IModuleObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var all = Descendants().Prepend(this).ToList();
        foreach (var m in all)
            if (m._observer is not null && !ReferenceEquals(m._observer, observer))
                throw new InvalidOperationException($"Module '{(m.Name.Length == 0 ? "(root)" : m.Name)}' already has an observer; dispose it first.");
        foreach (var m in all) m._observer = observer;
        return new Detach(all);
    }

    private sealed class Detach(List<Module> modules) : IDisposable
    {
        public void Dispose()
        {
            foreach (var m in modules) m._observer = null;
        }
    }

    /// <summary>True when the module has no child modules (a layer rather than a container).</summary>
    public bool IsLeaf => _children.Count == 0;

    /// <summary>A one-line description such as <c>Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))</c> (PyTorch's format).</summary>
    public override string ToString() => GetType().Name;

    /// <summary>Registers a parameter under <paramref name="localName"/>.</summary>
    protected Parameter RegisterParameter(string localName, Tensor value)
    {
        var p = new Parameter(localName, value);
        _parameters.Add(p);
        p.Rename(Join(Name, localName));
        return p;
    }

    /// <summary>Registers a non-learnable state tensor (such as a running mean) under <paramref name="localName"/>.</summary>
    protected Tensor RegisterBuffer(string localName, Tensor value)
    {
        ArgumentException.ThrowIfNullOrEmpty(localName);
        _buffers.Add((localName, value));
        value.Name = Join(Name, localName);
        return value;
    }

    /// <summary>Registers a child module under <paramref name="localName"/> and renames its tensors with the prefix.</summary>
    protected T RegisterModule<T>(string localName, T module) where T : Module
    {
        ArgumentException.ThrowIfNullOrEmpty(localName);
        ArgumentNullException.ThrowIfNull(module);
        if (_children.Any(c => c.LocalName == localName))
            throw new ArgumentException($"Module '{Name}' already has a child named '{localName}'.", nameof(localName));
        _children.Add((localName, module));
        module.SetPrefix(Join(Name, localName));
        module.Train(IsTraining);
        if (ReusesBuffers) module.ReuseBuffers(true);
        return module;
    }

    private void SetPrefix(string prefix)
    {
        Name = prefix;
        foreach (var p in _parameters) p.Rename(Join(prefix, p.LocalName));
        foreach (var (local, t) in _buffers) t.Name = Join(prefix, local);
        foreach (var (local, m) in _children) m.SetPrefix(Join(prefix, local));
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>All parameters of this module and its descendants, in registration order, with full names.</summary>
    public IEnumerable<Parameter> Parameters()
    {
        foreach (var p in _parameters) yield return p;
        foreach (var (_, m) in _children)
            foreach (var p in m.Parameters()) yield return p;
    }

    /// <summary>All buffers (running statistics and similar) of this module and its descendants, with full names.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers()
    {
        foreach (var (_, t) in _buffers) yield return (t.Name!, t);
        foreach (var (_, m) in _children)
            foreach (var b in m.NamedBuffers()) yield return b;
    }

    /// <summary>The direct children with their local names.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => _children.Select(c => (c.LocalName, c.Module));

    /// <summary>Every descendant module (depth first, parents before children) with its full name.</summary>
    public IEnumerable<Module> Descendants()
    {
        foreach (var (_, m) in _children)
        {
            yield return m;
            foreach (var d in m.Descendants()) yield return d;
        }
    }

    /// <summary>Parameters and buffers by full name, as PyTorch's <c>state_dict()</c> (the live tensors, not copies).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var p in Parameters()) d[p.Name] = p.Value;
        foreach (var (name, t) in NamedBuffers()) d[name] = t;
        return d;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers by name. With <paramref name="strict"/>, a missing or unexpected
    /// name throws; a shape mismatch always throws, naming the tensor. Nothing is changed unless every entry checks out.
    /// </summary>
    /// <param name="state">Tensors (on any device) by full name.</param>
    /// <param name="strict">Whether the names must match exactly.</param>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var extra = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new ArgumentException($"State dict does not match the model: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}].", nameof(state));
        }
        foreach (var (name, target) in own)
            if (state.TryGetValue(name, out var src) && !src.ShapeRef.AsSpan().SequenceEqual(target.ShapeRef))
                throw new ArgumentException($"Tensor '{name}': the model expects shape {target.ShapeString} but the state dict has {src.ShapeString}.", nameof(state));
        foreach (var (name, target) in own)
            if (state.TryGetValue(name, out var src))
                target.CopyFrom(src.ToArray());
    }

    /// <summary>Sets training mode (batch statistics, active dropout) on this module and all descendants.</summary>
    /// <param name="mode">True for training, false for evaluation.</param>
    public virtual void Train(bool mode = true)
    {
        IsTraining = mode;
        foreach (var (_, m) in _children) m.Train(mode);
    }

    /// <summary>True when passes write into buffers the layer keeps (see <see cref="ReuseBuffers"/>).</summary>
    public bool ReusesBuffers { get; private set; }

    private readonly List<Tensor?> _reusable = [];

    /// <summary>
    /// Turns buffer reuse on or off for this module and all descendants. With reuse on, <see cref="Forward"/> writes its
    /// output, and <see cref="Backward"/> its dX, into tensors the layer kept from the previous call (when the shape and device
    /// are unchanged) instead of allocating new ones, so a step touches no fresh memory: on machines where the first touch of
    /// a page is slow (about 10 µs per 4 KiB on the project's virtual machines) that is a large part of a step. The price:
    /// the tensors one call returns are overwritten by the next call of the same layer, so copy (<see cref="Tensor.ToArray"/>)
    /// what you want to keep, and an eval-mode model with reuse on must not run Forward on several threads at once. Off by
    /// default (every call returns new tensors, as PyTorch does); <see cref="Training.Trainer"/> turns it on while it trains
    /// and evaluates. Turning it off releases the kept buffers.
    /// </summary>
    /// <param name="enabled">True to reuse buffers, false to allocate on every pass (PyTorch's behaviour).</param>
    public void ReuseBuffers(bool enabled = true)
    {
        ReusesBuffers = enabled;
        if (!enabled) _reusable.Clear();
        foreach (var (_, m) in _children) m.ReuseBuffers(enabled);
    }

    /// <summary>
    /// An output tensor of <paramref name="shape"/> on <paramref name="device"/>: with buffer reuse on, the
    /// tensor kept in <paramref name="slot"/> (allocated on first use or when the shape changed); otherwise a new tensor.
    /// A reused buffer holds the previous step's values, so the caller must overwrite every element (or clear it first).
    /// It is never <paramref name="notAliasing"/> (a layer fed its own last output gets a fresh tensor).
    /// </summary>
    /// <param name="slot">Which of the layer's buffers (0, 1, ...: one per distinct output the layer produces).</param>
    /// <param name="device">The device the tensor must live on.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="notAliasing">A tensor the result must not be (typically the input).</param>
    protected Tensor ReusableBuffer(int slot, IDevice device, ReadOnlySpan<int> shape, Tensor? notAliasing = null)
    {
        if (!ReusesBuffers) return new Tensor(device, shape.ToArray());
        while (_reusable.Count <= slot) _reusable.Add(null);
        var t = _reusable[slot];
        if (t is null || !ReferenceEquals(t.Device, device) || !t.ShapeRef.AsSpan().SequenceEqual(shape) || ReferenceEquals(t, notAliasing))
            _reusable[slot] = t = new Tensor(device, shape.ToArray());
        return t;
    }

    /// <summary>
    /// <paramref name="kept"/> when it equals <paramref name="x"/>'s shape, else a copy of that shape: a layer caching its
    /// input's shape allocates only when the shape changes (a training step then allocates nothing).
    /// </summary>
    /// <param name="kept">The shape cached by the last pass, or null.</param>
    /// <param name="x">The input whose shape to cache.</param>
    protected internal static int[] SameShape(int[]? kept, Tensor x) =>
        kept is not null && kept.AsSpan().SequenceEqual(x.ShapeRef) ? kept : x.Shape;

    /// <summary>Sets evaluation mode (running statistics, dropout off) on this module and all descendants.</summary>
    public void Eval() => Train(false);

    /// <summary>Clears every parameter gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>The total number of learnable values.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Value.Length);

    /// <summary>Throws <see cref="InvalidOperationException"/> when <paramref name="cache"/> is null (Backward before Forward).</summary>
    protected T RequireCache<T>(T? cache) where T : class =>
        cache ?? throw new InvalidOperationException($"{GetType().Name} '{(Name.Length == 0 ? "(root)" : Name)}': Backward was called before Forward.");

    /// <summary>Throws unless <paramref name="dY"/> has the shape of the last output.</summary>
    protected static void CheckGradShape(Tensor dY, Tensor output) => CheckGradShape(dY, output.ShapeRef);

    /// <summary>Throws unless <paramref name="dY"/> has <paramref name="outputShape"/>, the shape of the last output.</summary>
    protected static void CheckGradShape(Tensor dY, int[] outputShape)
    {
        ArgumentNullException.ThrowIfNull(dY);
        if (!dY.ShapeRef.AsSpan().SequenceEqual(outputShape))
            throw new ArgumentException($"dY must have the shape of the last output {ShapeUtil.Format(outputShape)} but has {dY.ShapeString}.", nameof(dY));
    }

    /// <summary>Throws unless <paramref name="x"/> lives on <paramref name="device"/>.</summary>
    protected internal static void CheckDevice(Tensor x, IDevice device, string argName)
    {
        if (!ReferenceEquals(x.Device, device))
            throw new ArgumentException($"Input {x.ShapeString} is on {x.Device.Name} but the module's parameters are on {device.Name}.", argName);
    }
}
