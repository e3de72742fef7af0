using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using ConvEngine.NN;

namespace ConvEngine.Inspect;

// Receptive field arithmetic (per axis), layer by layer from the input (r = 1, j = 1, start = 0.5: one pixel, centre 0.5):
//   sliding window with kernel k, stride s, padding p, dilation d (Conv2d, MaxPool2d, AvgPool2d):
//     r_out     = r_in + (k − 1)·d·j_in          how many input pixels one output unit sees
//     j_out     = j_in·s                         the distance in input pixels between neighbouring output units
//     start_out = start_in + ((k − 1)·d/2 − p)·j_in   the centre of the first output unit's field, in input pixels
//   global (AdaptiveAvgPool2d to 1, or Linear after a feature map): a window over the whole map of size n,
//     r_out = r_in + (n − 1)·j_in, and the output is one unit (its jump j_in·n is only formal: it has no neighbours)
//   adaptive pooling to o > 1 cells: approximated as kernel ⌈n/o⌉, stride ⌊n/o⌋
//   everything else (activations, batch norm, dropout, flatten): passes through unchanged.
// The field can be larger than the image: padded borders count, as in the usual formula.
// Shapes come from a dummy forward of a zero batch of one image in eval mode (running statistics are not touched).
// Which field a layer's INPUT has is found by tensor identity: the observer maps each output tensor to its field. A tensor
// made inside a container (the sum of a residual block) is unknown to it; it gets the largest field among the tensors seen
// so far with the same spatial size (for a residual sum b + shortcut that is the field of the longer branch b).

/// <summary>The receptive field of one layer's output.</summary>
/// <param name="Layer">The layer's full name.</param>
/// <param name="Type">The layer's description.</param>
/// <param name="OutputShape">The output shape without the batch dimension, such as [6, 28, 28] or [120].</param>
/// <param name="Size">The size (height, width) of the input-pixel window one output unit sees.</param>
/// <param name="Jump">The distance (vertical, horizontal) in input pixels between neighbouring output units.</param>
/// <param name="Start">The centre (row, column), in input pixels, of the first output unit's field (pixel i spans [i, i + 1)).</param>
public readonly record struct ReceptiveFieldEntry(string Layer, string Type, int[] OutputShape, (int H, int W) Size, (int H, int W) Jump, (double H, double W) Start)
{
    /// <summary>One line: name, output shape, field and jump.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Layer,-22} {ShapeUtil.Format(OutputShape),-16} rf {Size.H + "x" + Size.W,-7} jump {Jump.H + "x" + Jump.W,-6} start ({Start.H:0.##}, {Start.W:0.##})");
}

/// <summary>Computes, for every leaf layer of a model in execution order, the receptive field and jump of its output.</summary>
public static class ReceptiveField
{
    /// <summary>The receptive fields of a model on square inputs.</summary>
    /// <param name="model">The model; its observer slot must be free.</param>
    /// <param name="inputSize">The input height and width.</param>
    /// <param name="inChannels">Input channels; null takes those of the first <see cref="Conv2d"/>, or 1.</param>
    public static IReadOnlyList<ReceptiveFieldEntry> Of(Module model, int inputSize, int? inChannels = null) => Of(model, (inputSize, inputSize), inChannels);

    /// <summary>The receptive fields of a model on inputs of size <paramref name="inputSize"/>.</summary>
    /// <param name="model">The model; its observer slot must be free.</param>
    /// <param name="inputSize">The input (height, width).</param>
    /// <param name="inChannels">Input channels; null takes those of the first <see cref="Conv2d"/>, or 1.</param>
    public static IReadOnlyList<ReceptiveFieldEntry> Of(Module model, (int H, int W) inputSize, int? inChannels = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inputSize.H <= 0 || inputSize.W <= 0)
            throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "The input size must be positive.");
        var all = model.Descendants().Prepend(model).ToList();
        int c = inChannels ?? all.OfType<Conv2d>().Select(cv => cv.InChannels).FirstOrDefault(1);
        IDevice device = all.SelectMany(m => m.Parameters()).Select(p => p.Value.Device).FirstOrDefault() ?? CpuDevice.Default;
        var modes = all.Select(m => m.IsTraining).ToList();
        var observer = new FieldObserver(inputSize);
        try
        {
            model.Eval();
            var x = new Tensor(device, 1, c, inputSize.H, inputSize.W);
            observer.Seed(x);
            using (model.Observe(observer)) model.Forward(x);
        }
        finally
        {
            // Descendants lists parents before children, so setting each module's own mode in this order restores mixed modes.
            for (int i = 0; i < all.Count; i++) all[i].Train(modes[i]);
        }
        return observer.Entries;
    }

    /// <summary>A text table of <paramref name="entries"/>, one line each.</summary>
    /// <param name="entries">The result of <see cref="Of(Module, int, int?)"/>.</param>
    public static string Format(IEnumerable<ReceptiveFieldEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var sb = new StringBuilder();
        foreach (var e in entries) sb.AppendLine(e.ToString());
        return sb.ToString();
    }

    private readonly record struct Field(int RH, int RW, int JH, int JW, double SH, double SW, int MapH, int MapW);

    private sealed class FieldObserver((int H, int W) inputSize) : IModuleObserver
    {
        private readonly ConditionalWeakTable<Tensor, object> _byTensor = [];
        private readonly List<Field> _seen = [];
        private Field _last;

        public List<ReceptiveFieldEntry> Entries { get; } = [];

        public void Seed(Tensor x)
        {
            _last = new Field(1, 1, 1, 1, 0.5, 0.5, inputSize.H, inputSize.W);
            Remember(x, _last);
        }

        private void Remember(Tensor t, Field f)
        {
            _byTensor.AddOrUpdate(t, f);
            _seen.Add(f);
            _last = f;
        }

        private Field Lookup(Tensor x)
        {
            if (_byTensor.TryGetValue(x, out var f)) return (Field)f;
            if (x.Rank == 4)
            {
                var same = _seen.Where(s => s.MapH == x.Dim(2) && s.MapW == x.Dim(3)).ToList();
                if (same.Count > 0) return same.MaxBy(s => (long)s.RH * s.RW);
            }
            return _last;
        }

        public void AfterForward(Module module, Tensor input, Tensor output)
        {
            if (!module.IsLeaf) { Remember(output, Lookup(output)); return; }
            var f = Lookup(input);
            int inH = input.Rank == 4 ? input.Dim(2) : f.MapH, inW = input.Rank == 4 ? input.Dim(3) : f.MapW;
            Field o = module switch
            {
                Conv2d cv => Window(f, cv.KernelSize, cv.Stride, cv.Padding, cv.Dilation),
                MaxPool2d mp => Window(f, mp.KernelSize, mp.Stride, mp.Padding, (1, 1)),
                AvgPool2d ap => Window(f, ap.KernelSize, ap.Stride, ap.Padding, (1, 1)),
                AdaptiveAvgPool2d ad when ad.OutputSize == (1, 1) => Window(f, (inH, inW), (inH, inW), (0, 0), (1, 1)),
                AdaptiveAvgPool2d ad => Window(f, ((inH + ad.OutputSize.H - 1) / ad.OutputSize.H, (inW + ad.OutputSize.W - 1) / ad.OutputSize.W),
                                               (Math.Max(1, inH / ad.OutputSize.H), Math.Max(1, inW / ad.OutputSize.W)), (0, 0), (1, 1)),
                Linear when f.MapH * f.MapW > 1 => Window(f, (f.MapH, f.MapW), (f.MapH, f.MapW), (0, 0), (1, 1)),
                _ => f,
            };
            if (output.Rank == 4) o = o with { MapH = output.Dim(2), MapW = output.Dim(3) };
            else if (module is Linear) o = o with { MapH = 1, MapW = 1 };
            Remember(output, o);
            var shape = output.Shape.Skip(1).ToArray();
            Entries.Add(new ReceptiveFieldEntry(module.Name, module.ToString(), shape, (o.RH, o.RW), (o.JH, o.JW), (o.SH, o.SW)));
        }

        public void AfterBackward(Module module, Tensor dY, Tensor dX)
        {
        }

        private static Field Window(Field f, (int H, int W) k, (int H, int W) s, (int H, int W) p, (int H, int W) d) => f with
        {
            RH = f.RH + (k.H - 1) * d.H * f.JH,
            RW = f.RW + (k.W - 1) * d.W * f.JW,
            JH = f.JH * s.H,
            JW = f.JW * s.W,
            SH = f.SH + ((k.H - 1) * d.H / 2.0 - p.H) * f.JH,
            SW = f.SW + ((k.W - 1) * d.W / 2.0 - p.W) * f.JW,
        };
    }
}
