using ConvEngine.NN;

namespace ConvEngine.Cli;

// A layer-by-layer summary from one dummy forward pass (batch 1, evaluation mode): output shape, parameters, and the
// receptive field r (input pixels one output pixel sees, per side) and jump j (input pixels between neighbouring output
// pixels), starting from r = 1, j = 1 at the input:
//   conv / pool with kernel k, stride s, dilation d:   r_out = r_in + (k − 1)·d·j_in,   j_out = j_in·s
//   adaptive average pool from n to m cells (n ≥ m):  k = ⌈n/m⌉, s = ⌊n/m⌋ (exact when m divides n)
//   element-wise layers (activations, batch norm, dropout): unchanged
//   flatten / linear: every output sees the whole input ("global")
// Sequential containers are walked child by child. Any other composite (a residual block) is one row; its receptive
// field follows the main path, its leaf convolutions and pools in order, leaving out 1×1 convolutions, which in these
// models are the parallel projection shortcuts (a 1×1 conv adds nothing to r, and the main path already has the stride).

/// <summary>One row of <see cref="ModelSummary"/>.</summary>
internal sealed record SummaryRow(string Name, string Type, int[] OutputShape, long Parameters, (int H, int W)? ReceptiveField, (int H, int W)? Jump);

/// <summary>Computes per-layer shapes, parameter counts and receptive fields of a model.</summary>
internal static class ModelSummary
{
    public static List<SummaryRow> Compute(Module model, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(model);
        var device = model.Parameters().Select(p => p.Value.Device).FirstOrDefault() ?? CpuDevice.Default;
        bool wasTraining = model.IsTraining;
        model.Eval();
        try
        {
            var x = new Tensor(device, 1, channels, height, width);
            var rows = new List<SummaryRow>();
            var rf = new RfState();
            Walk(model, x, rf, rows);
            return rows;
        }
        finally { model.Train(wasTraining); }
    }

    private sealed class RfState
    {
        public int RH = 1, RW = 1, JH = 1, JW = 1;
        public bool Global;
        public void Apply(int kh, int kw, int sh, int sw, int dh, int dw)
        {
            RH += (kh - 1) * dh * JH; RW += (kw - 1) * dw * JW;
            JH *= sh; JW *= sw;
        }
    }

    private static Tensor Walk(Module m, Tensor x, RfState rf, List<SummaryRow> rows)
    {
        if (m is Sequential seq)
        {
            foreach (var child in seq.Layers) x = Walk(child, x, rf, rows);
            return x;
        }
        var y = m.Forward(x);
        if (!rf.Global)
        {
            if (m is Flatten or Linear || y.Rank < 4) rf.Global = true;
            else if (m.Children().Any())
            {
                foreach (var leaf in m.Descendants().Where(d => !d.Children().Any()))
                    if (leaf is not Conv2d { KernelSize: (1, 1) }) ApplyLeaf(leaf, null, null, rf);
            }
            else ApplyLeaf(m, x, y, rf);
        }
        string name = m.Name.Length == 0 ? "(model)" : m.Name;
        rows.Add(new SummaryRow(name, m.GetType().Name, y.Shape, m.ParameterCount(),
                                rf.Global ? null : (rf.RH, rf.RW), rf.Global ? null : (rf.JH, rf.JW)));
        return y;
    }

    private static void ApplyLeaf(Module m, Tensor? x, Tensor? y, RfState rf)
    {
        switch (m)
        {
            case Conv2d c: rf.Apply(c.KernelSize.H, c.KernelSize.W, c.Stride.H, c.Stride.W, c.Dilation.H, c.Dilation.W); break;
            case MaxPool2d p: rf.Apply(p.KernelSize.H, p.KernelSize.W, p.Stride.H, p.Stride.W, 1, 1); break;
            case AvgPool2d p: rf.Apply(p.KernelSize.H, p.KernelSize.W, p.Stride.H, p.Stride.W, 1, 1); break;
            case AdaptiveAvgPool2d when x is not null && y is not null:
                int inH = x.Dim(2), inW = x.Dim(3), outH = y.Dim(2), outW = y.Dim(3);
                if (inH >= outH && inW >= outW)
                    rf.Apply((inH + outH - 1) / outH, (inW + outW - 1) / outW, inH / outH, inW / outW, 1, 1);
                break;
        }
    }

    /// <summary>Formats a shape as PyTorch prints sizes: <c>[1, 6, 28, 28]</c>.</summary>
    public static string Shape(int[] s) => "[" + string.Join(", ", s) + "]";
}
