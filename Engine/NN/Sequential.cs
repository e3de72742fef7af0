namespace ConvEngine.NN;

/// <summary>
/// Runs its children in order: y = fₙ(…f₂(f₁(x))). Backward runs them in reverse: dX = f₁ᵀ(…fₙᵀ(dY)).
/// Children are named <c>0</c>, <c>1</c>, … unless added with a name, as in PyTorch.
/// </summary>
public class Sequential : Module
{
    private readonly List<Module> _layers = [];

    /// <summary>Creates a sequence of the given modules, named by their index.</summary>
    public Sequential(params Module[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        foreach (var l in layers) Add(l);
    }

    /// <summary>Appends a module named by its index.</summary>
    public Sequential Add(Module layer) => Add(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);

    /// <summary>Appends a module under <paramref name="name"/>.</summary>
    public Sequential Add(string name, Module layer)
    {
        _layers.Add(RegisterModule(name, layer));
        return this;
    }

    /// <summary>The number of child modules.</summary>
    public int Count => _layers.Count;

    /// <summary>The child at <paramref name="index"/>.</summary>
    public Module this[int index] => _layers[index];

    /// <summary>The children in order.</summary>
    public IReadOnlyList<Module> Layers => _layers;

    /// <inheritdoc/>
    protected override Tensor ForwardCore(Tensor x)
    {
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }

    /// <inheritdoc/>
    protected override Tensor BackwardCore(Tensor dY)
    {
        for (int i = _layers.Count - 1; i >= 0; i--) dY = _layers[i].Backward(dY);
        return dY;
    }
}
