using ConvEngine.NN;

namespace ConvEngine.Inspect;

/// <summary>Sets a model to eval mode and restores every module's own mode when disposed (mixed modes survive).</summary>
internal sealed class EvalScope : IDisposable
{
    private readonly List<Module> _all;
    private readonly List<bool> _modes;

    public EvalScope(Module model)
    {
        _all = model.Descendants().Prepend(model).ToList();
        _modes = _all.Select(m => m.IsTraining).ToList();
        model.Eval();
    }

    // Descendants lists parents before children, so setting each module's mode in this order restores mixed modes.
    public void Dispose()
    {
        for (int i = 0; i < _all.Count; i++) _all[i].Train(_modes[i]);
    }
}

/// <summary>Renders the filters (weights) of a convolution as a grid of small pictures.</summary>
public static class FilterGrid
{
    /// <summary>
    /// One tile per (output channel, input channel) pair: row o holds the Cin kernels of filter o (with a single input channel
    /// the filters are wrapped into ⌈√Cout⌉ columns instead). Colours are diverging
    /// (<see cref="ColorMap.Diverging"/>) with one scale m = max|w| for the whole layer, so tiles can be compared:
    /// positive weights red, negative blue, zero white. Each weight becomes a <paramref name="scale"/>×<paramref name="scale"/> block.
    /// </summary>
    /// <param name="conv">The convolution.</param>
    /// <param name="scale">Pixels per weight along each axis.</param>
    /// <param name="maxFilters">Show at most this many filters (rows), the first ones.</param>
    /// <param name="maxInputs">Show at most this many input channels (columns), the first ones.</param>
    public static Picture Render(Conv2d conv, int scale = 8, int maxFilters = int.MaxValue, int maxInputs = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(conv);
        if (maxFilters < 1) throw new ArgumentOutOfRangeException(nameof(maxFilters), maxFilters, "At least one filter must be shown.");
        if (maxInputs < 1) throw new ArgumentOutOfRangeException(nameof(maxInputs), maxInputs, "At least one input channel must be shown.");
        var w = conv.Weight.Value.ToArray();
        int cout = conv.OutChannels, cin = conv.InChannels / conv.Groups, kh = conv.KernelSize.H, kw = conv.KernelSize.W;
        int showOut = Math.Min(cout, maxFilters), showIn = Math.Min(cin, maxInputs);
        float m = ColorMap.MaxAbs(w);
        var tiles = new List<Picture>();
        for (int o = 0; o < showOut; o++)
            for (int i = 0; i < showIn; i++)
                tiles.Add(new Picture(kw, kh, 3, ColorMap.Diverging(w.AsSpan((o * cin + i) * kh * kw, kh * kw), m)).Upscale(scale));
        // One input channel: wrap the filters into a near-square grid instead of one tall column.
        return Picture.Grid(tiles, showIn > 1 ? showIn : (int)Math.Ceiling(Math.Sqrt(showOut)), 1, 128);
    }

    /// <summary>
    /// For a convolution over 3 input channels: one RGB tile per filter, channel c of the kernel shown as colour c, mapped with
    /// the layer's minimum → 0 and maximum → 255 (<see cref="ColorMap.Gray"/> per colour); as AlexNet's first-layer pictures.
    /// </summary>
    /// <param name="conv">A convolution with 3 input channels and 1 group.</param>
    /// <param name="scale">Pixels per weight along each axis.</param>
    /// <param name="columns">Tiles per row.</param>
    public static Picture RenderRgb(Conv2d conv, int scale = 8, int columns = 8)
    {
        ArgumentNullException.ThrowIfNull(conv);
        if (conv.InChannels != 3 || conv.Groups != 1)
            throw new ArgumentException($"RenderRgb needs 3 input channels and 1 group but the layer has {conv.InChannels} and {conv.Groups}.", nameof(conv));
        var w = conv.Weight.Value.ToArray();
        var g = ColorMap.Gray(w);
        int kh = conv.KernelSize.H, kw = conv.KernelSize.W, plane = kh * kw;
        var tiles = new List<Picture>();
        for (int o = 0; o < conv.OutChannels; o++)
        {
            var rgb = new byte[plane * 3];
            for (int p = 0; p < plane; p++)
                for (int c = 0; c < 3; c++) rgb[3 * p + c] = g[(o * 3 + c) * plane + p];
            tiles.Add(new Picture(kw, kh, 3, rgb).Upscale(scale));
        }
        return Picture.Grid(tiles, columns, 1, 128);
    }
}

/// <summary>Captures and renders the activations (feature maps) of a model's layers for an input.</summary>
public static class FeatureMaps
{
    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="images"/> in eval mode (running statistics untouched, dropout off; the
    /// previous modes are restored) and returns a copy of every module's output by full name (leaves and containers; the
    /// root's output is under the empty name).
    /// </summary>
    /// <param name="model">The model; its observer slot must be free.</param>
    /// <param name="images">The input batch (N, C, H, W).</param>
    public static IReadOnlyDictionary<string, TensorSnapshot> Capture(Module model, Tensor images)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        var obs = new OutputObserver();
        using (new EvalScope(model))
        using (model.Observe(obs))
            model.Forward(images);
        return obs.Outputs;
    }

    /// <summary>
    /// The feature maps of layer <paramref name="layer"/> for image <paramref name="index"/> of <paramref name="images"/>: one gray tile per
    /// channel, each mapped from its own minimum (black) to its own maximum (white) (<see cref="ColorMap.Gray"/>), ⌈√C⌉ tiles per row.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="images">The input batch (N, C, H, W).</param>
    /// <param name="layer">The full name of the layer (<c>conv1</c>, <c>layer1.0.relu2</c>).</param>
    /// <param name="index">Which image of the batch.</param>
    /// <param name="scale">Pixels per activation along each axis.</param>
    public static Picture Render(Module model, Tensor images, string layer, int index = 0, int scale = 4)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var outputs = Capture(model, images);
        if (!outputs.TryGetValue(layer, out var snap))
            throw new ArgumentException($"No layer named '{layer}'. Layers: {string.Join(", ", outputs.Keys.Where(k => k.Length > 0))}.", nameof(layer));
        return Render(snap, index, scale);
    }

    /// <summary>Renders an activation (N, C, H, W) of image <paramref name="index"/> as a grid of per-channel gray tiles (see <see cref="Render(Module, Tensor, string, int, int)"/>).</summary>
    /// <param name="activation">The activation snapshot; rank 4, or rank 2 (N, F), shown as one row of F cells.</param>
    /// <param name="index">Which image of the batch.</param>
    /// <param name="scale">Pixels per activation along each axis.</param>
    public static Picture Render(TensorSnapshot activation, int index = 0, int scale = 4)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var s = activation.Shape;
        if (s.Length == 2) s = [s[0], 1, 1, s[1]];
        if (s.Length != 4) throw new ArgumentException($"Expected an activation of rank 4 (N, C, H, W) or 2 (N, F) but got {activation.ShapeString}.", nameof(activation));
        if (index < 0 || index >= s[0]) throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch has {s[0]} images.");
        int c = s[1], h = s[2], w = s[3], plane = h * w;
        var data = activation.Data;
        var tiles = new List<Picture>();
        for (int ch = 0; ch < c; ch++)
            tiles.Add(new Picture(w, h, 1, ColorMap.Gray(data.Slice((index * c + ch) * plane, plane))).Upscale(scale));
        int cols = (int)Math.Ceiling(Math.Sqrt(c));
        return Picture.Grid(tiles, cols, 1, 128);
    }

    private sealed class OutputObserver : IModuleObserver
    {
        public Dictionary<string, TensorSnapshot> Outputs { get; } = [];
        public void AfterForward(Module module, Tensor input, Tensor output) => Outputs[module.Name] = new TensorSnapshot("output", output);
        public void AfterBackward(Module module, Tensor dY, Tensor dX) { }
    }
}

/// <summary>
/// Saliency maps: the gradient of a class score with respect to the input pixels, ∂logit_c/∂x, showing which pixels would change
/// the score most. Computed by one backward pass with dY = one-hot(c) on the logits.
/// </summary>
public static class Saliency
{
    /// <summary>
    /// The gradient ∂logit[target]/∂x for image <paramref name="index"/>, shape (C, H, W). Runs in eval mode; the model's
    /// modes and parameter gradients are restored afterwards, so it can be called in the middle of training.
    /// </summary>
    /// <param name="model">A classifier producing logits [N, K]; its observer slot is not used.</param>
    /// <param name="images">The input batch (N, C, H, W).</param>
    /// <param name="index">Which image.</param>
    /// <param name="target">The class whose score is differentiated; null for the predicted (largest-logit) class.</param>
    public static Tensor Gradient(Module model, Tensor images, int index = 0, int? target = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        ShapeUtil.RequireRank(images, 4, nameof(images), "[N, C, H, W]");
        if (index < 0 || index >= images.Dim(0)) throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch has {images.Dim(0)} images.");
        int c = images.Dim(1), h = images.Dim(2), w = images.Dim(3), size = c * h * w;
        var one = Tensor.FromArray(images.Device, images.ToArray().AsSpan(index * size, size).ToArray(), 1, c, h, w);
        var saved = model.Parameters().Select(p => (p, Grad: p.Grad.ToArray())).ToList();
        try
        {
            using (new EvalScope(model))
            {
                var logits = model.Forward(one);
                if (logits.Rank != 2) throw new ArgumentException($"The model must produce logits [N, K] but produced {logits.ShapeString}.", nameof(model));
                var l = logits.ToArray();
                int k = l.Length;
                int t = target ?? Array.IndexOf(l, l.Max());
                if (t < 0 || t >= k) throw new ArgumentOutOfRangeException(nameof(target), target, $"The model has {k} classes.");
                var dy = new float[k];
                dy[t] = 1;
                var dX = model.Backward(Tensor.FromArray(logits.Device, dy, 1, k));
                return Tensor.FromArray(dX.Device, dX.ToArray(), c, h, w);
            }
        }
        finally
        {
            foreach (var (p, g) in saved) p.Grad.CopyFrom(g);
        }
    }

    /// <summary>
    /// The saliency map of <see cref="Gradient"/> as a gray picture: per pixel the largest |gradient| over the channels,
    /// mapped 0 → black, the image's maximum → white (<see cref="ColorMap.Gray"/> with lo = 0).
    /// </summary>
    /// <param name="model">A classifier.</param>
    /// <param name="images">The input batch.</param>
    /// <param name="index">Which image.</param>
    /// <param name="target">The class; null for the predicted class.</param>
    /// <param name="scale">Pixels per input pixel along each axis.</param>
    public static Picture Render(Module model, Tensor images, int index = 0, int? target = null, int scale = 4)
    {
        var g = Gradient(model, images, index, target);
        int c = g.Dim(0), h = g.Dim(1), w = g.Dim(2);
        var d = g.ToArray();
        var map = new float[h * w];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < map.Length; i++) map[i] = Math.Max(map[i], Math.Abs(d[ch * h * w + i]));
        return new Picture(w, h, 1, ColorMap.Gray(map, 0f)).Upscale(scale);
    }
}

/// <summary>Writes the standard pictures of a model in one call (what a <c>visualize</c> command shows).</summary>
public static class Visualizer
{
    /// <summary>
    /// Writes into <paramref name="directory"/>: <c>input.png</c> (image <paramref name="index"/>, when it has 1 or 3 channels),
    /// for every <see cref="Conv2d"/> <c>filters_&lt;layer&gt;.png</c> (at most 32 filters × 8 input channels) and
    /// <c>maps_&lt;layer&gt;.png</c> (its feature maps for the image), and <c>saliency.png</c> for a classifier.
    /// Runs in eval mode and restores the model's modes and gradients. Returns the paths written.
    /// </summary>
    /// <param name="model">The model; its observer slot must be free.</param>
    /// <param name="images">A batch (N, C, H, W) with values roughly in [0, 1].</param>
    /// <param name="directory">The destination folder (created when missing).</param>
    /// <param name="index">Which image of the batch.</param>
    public static IReadOnlyList<string> SaveAll(Module model, Tensor images, string directory, int index = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ShapeUtil.RequireRank(images, 4, nameof(images), "[N, C, H, W]");
        if (index < 0 || index >= images.Dim(0)) throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch has {images.Dim(0)} images.");
        var paths = new List<string>();
        string P(string file) { var p = Path.Combine(directory, file); paths.Add(p); return p; }
        int c = images.Dim(1), h = images.Dim(2), w = images.Dim(3);
        var one = Tensor.FromArray(images.Device, images.ToArray().AsSpan(index * c * h * w, c * h * w).ToArray(), 1, c, h, w);
        if (c == 1 || c == 3) DemoResult.ImagePicture(one).Upscale(4).Save(P("input.png"));
        var maps = FeatureMaps.Capture(model, one);
        foreach (var conv in model.Descendants().Prepend(model).OfType<Conv2d>())
        {
            var name = conv.Name.Length == 0 ? "root" : conv.Name;
            FilterGrid.Render(conv, 8, maxFilters: 32, maxInputs: 8).Save(P($"filters_{name}.png"));
            if (maps.TryGetValue(conv.Name, out var act)) FeatureMaps.Render(act, 0, 2).Save(P($"maps_{name}.png"));
        }
        if (maps.TryGetValue("", out var output) && output.Shape.Length == 2)
            Saliency.Render(model, one, 0, null, 4).Save(P("saliency.png"));
        return paths;
    }
}
