using ConvEngine.NN;

namespace ConvEngine.Inspect;

/// <summary>The result of a finite-difference check for one tensor (the input or a parameter).</summary>
/// <param name="Name">The tensor's name: <c>input</c> or the parameter's full name.</param>
/// <param name="Checked">How many elements were perturbed.</param>
/// <param name="MaxRelativeError">The largest |analytic − numeric| / max(|analytic|, |numeric|, floor).</param>
/// <param name="MaxAbsoluteError">The largest |analytic − numeric|.</param>
/// <param name="WorstIndex">The flat index where the relative error is largest (−1 when nothing was checked).</param>
/// <param name="Analytic">The analytic gradient at <paramref name="WorstIndex"/>.</param>
/// <param name="Numeric">The numeric gradient at <paramref name="WorstIndex"/>.</param>
/// <param name="Shape">The tensor's shape, or null when unknown.</param>
public readonly record struct GradCheckEntry(string Name, int Checked, double MaxRelativeError, double MaxAbsoluteError, int WorstIndex, double Analytic, double Numeric, int[]? Shape = null)
{
    /// <summary>
    /// <see cref="WorstIndex"/> as coordinates in the tensor's shape, such as <c>[2, 0, 4, 1]</c> for (out channel, in channel,
    /// row, column) of a convolution weight; the flat index when the shape is unknown; empty when nothing was checked.
    /// </summary>
    public int[] WorstCoordinates
    {
        get
        {
            if (WorstIndex < 0) return [];
            if (Shape is null || Shape.Length == 0) return [WorstIndex];
            var c = new int[Shape.Length];
            int rest = WorstIndex;
            for (int d = Shape.Length - 1; d >= 0; d--) { c[d] = Shape[d] == 0 ? 0 : rest % Shape[d]; rest = Shape[d] == 0 ? 0 : rest / Shape[d]; }
            return c;
        }
    }
}

/// <summary>The result of <see cref="GradCheck.Check"/>: one entry for the input and one per parameter.</summary>
public sealed class GradCheckReport
{
    internal GradCheckReport(IReadOnlyList<GradCheckEntry> entries) => Entries = entries;

    /// <summary>The per-tensor results, input first.</summary>
    public IReadOnlyList<GradCheckEntry> Entries { get; }

    /// <summary>The largest relative error over all tensors.</summary>
    public double MaxRelativeError => Entries.Count == 0 ? 0 : Entries.Max(e => e.MaxRelativeError);

    /// <summary>The entry of the named tensor.</summary>
    public GradCheckEntry this[string name] => Entries.First(e => e.Name == name);

    /// <inheritdoc/>
    public override string ToString() => string.Join(Environment.NewLine, Entries.Select(e =>
        $"{e.Name,-28} checked {e.Checked,6}  max rel err {e.MaxRelativeError:E2} at [{string.Join(", ", e.WorstCoordinates)}] (analytic {e.Analytic:G6}, numeric {e.Numeric:G6})"));
}

/// <summary>
/// Checks a module's hand-written backward pass against central finite differences.
/// The objective is L = Σ y ⊙ g for a fixed upstream gradient g (random when not given), so ∂L/∂y = g and every output
/// element and every batch item contributes. L is accumulated in double; each element of the input and of every parameter
/// is nudged by ±eps and (L₊ − L₋)/(2·eps) is compared with the analytic gradient from <see cref="Module.Backward"/>.
/// </summary>
/// <remarks>
/// The finite differences only mean something when every forward computes the same function. Two things would break that and
/// are held fixed here: buffers (batch-norm running statistics, restored after every forward) and dropout masks: a
/// <see cref="Dropout"/> draws a new mask at each training-mode forward (its <see cref="Dropout.Step"/> advances), so the
/// checker sets every dropout layer's <c>Step</c> back before each forward and all of them use the mask of the analytic pass.
/// Any other randomness inside a module must likewise be fixed by the caller. The report gives, per parameter and for the
/// input, the largest relative error and the flat index where it occurs.
/// </remarks>
public static class GradCheck
{
    /// <summary>
    /// Runs the check. Buffers (running statistics) and dropout streams are restored afterwards; parameter gradients are left
    /// holding the analytic gradient.
    /// </summary>
    /// <param name="module">The module to check. Dropout masks are held fixed automatically (see the remarks); any other randomness must be fixed by the caller.</param>
    /// <param name="input">The input; not modified (a copy is perturbed).</param>
    /// <param name="upstream">The upstream gradient g with the output's shape, or null for a seeded uniform one in [−1, 1).</param>
    /// <param name="eps">The perturbation.</param>
    /// <param name="maxPerTensor">At most this many elements are checked per tensor (spread evenly); 0 means all.</param>
    /// <param name="floor">The denominator floor of the relative error, so that near-zero gradients compare absolutely.</param>
    public static GradCheckReport Check(Module module, Tensor input, Tensor? upstream = null, float eps = 1e-2f, int maxPerTensor = 0, double floor = 1e-3)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(input);
        var savedBuffers = module.NamedBuffers().Select(b => (b.Tensor, Data: b.Tensor.ToArray())).ToList();
        var dropouts = module.Descendants().Prepend(module).OfType<Dropout>().Select(d => (Layer: d, d.Step)).ToList();
        void RestoreBuffers()
        {
            foreach (var (t, d) in savedBuffers) t.CopyFrom(d);
            foreach (var (d, step) in dropouts) d.Step = step;
        }

        var x = input.Clone();
        var y = module.Forward(x);
        float[] g;
        if (upstream is null)
        {
            var rng = new Random(12345);
            g = new float[y.Length];
            for (int i = 0; i < g.Length; i++) g[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        else
        {
            if (upstream.Length != y.Length)
                throw new ArgumentException($"upstream must have the output's shape {y.ShapeString} but has {upstream.ShapeString}.", nameof(upstream));
            g = upstream.ToArray();
        }
        module.ZeroGrad();
        var dX = module.Backward(Tensor.FromArray(y.Device, g, y.Shape)).ToArray();
        RestoreBuffers();

        double Objective()
        {
            var yy = module.Forward(x).ToArray();
            RestoreBuffers();
            double s = 0;
            for (int i = 0; i < yy.Length; i++) s += (double)yy[i] * g[i];
            return s;
        }

        var entries = new List<GradCheckEntry> { CheckTensor("input", x, dX, Objective, eps, maxPerTensor, floor) };
        foreach (var p in module.Parameters())
            entries.Add(CheckTensor(p.Name, p.Value, p.Grad.ToArray(), Objective, eps, maxPerTensor, floor));
        return new GradCheckReport(entries);
    }

    private static GradCheckEntry CheckTensor(string name, Tensor t, float[] analytic, Func<double> objective, float eps, int maxPerTensor, double floor)
    {
        var data = t.ToArray();
        int n = data.Length;
        int count = maxPerTensor <= 0 || maxPerTensor >= n ? n : maxPerTensor;
        double maxRel = 0, maxAbs = 0, worstA = 0, worstN = 0; int worst = -1;
        for (int k = 0; k < count; k++)
        {
            int i = count == n ? k : (int)((long)k * n / count);
            float orig = data[i];
            data[i] = orig + eps; t.CopyFrom(data);
            double lp = objective();
            data[i] = orig - eps; t.CopyFrom(data);
            double lm = objective();
            data[i] = orig; t.CopyFrom(data);
            double num = (lp - lm) / (2.0 * eps);
            double a = analytic[i];
            double abs = Math.Abs(a - num);
            double rel = abs / Math.Max(Math.Max(Math.Abs(a), Math.Abs(num)), floor);
            if (abs > maxAbs) maxAbs = abs;
            if (worst < 0 || rel > maxRel) { maxRel = rel; worst = i; worstA = a; worstN = num; }
        }
        return new GradCheckEntry(name, count, maxRel, maxAbs, worst, worstA, worstN, t.Shape);
    }
}
