using System.Globalization;
using System.Text;

namespace ConvEngine.Training;

// Training curves as a self-contained SVG written with a StringBuilder (no packages):
//   two panels side by side, "Loss" and "Accuracy (%)", x = epoch (1-based), one polyline + markers per series
//   (train solid, test dashed), "nice" tick values (1, 2, 2.5, 5 × 10ᵏ) with labels on both axes, a legend per panel.
// The file is written atomically: to a temporary file in the same folder, then renamed over the target, so a reader
// (a browser refreshing the file during training) never sees half a document.

/// <summary>Renders training curves (loss and accuracy per epoch, train and test) as SVG.</summary>
public static class Charts
{
    private const int PanelWidth = 460, PanelHeight = 320, MarginLeft = 64, MarginRight = 16, MarginTop = 40, MarginBottom = 48;
    private const string TrainColor = "#1f77b4", TestColor = "#d62728";

    /// <summary>The SVG document for the loss and accuracy curves of <paramref name="history"/>.</summary>
    /// <param name="history">Epoch results in order; epochs without a test result draw no test point.</param>
    /// <param name="title">An optional title drawn above the panels (such as the model and data set).</param>
    public static string RenderCurves(IReadOnlyList<EpochResult> history, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(history);
        var epochs = history.Select(e => (double)e.Epoch).ToArray();
        var trainLoss = history.Select(e => e.TrainLoss).ToArray();
        var testLoss = history.Select(e => e.Test?.Loss ?? double.NaN).ToArray();
        var trainAcc = history.Select(e => 100 * e.TrainAccuracy).ToArray();
        var testAcc = history.Select(e => 100 * (e.Test?.Accuracy ?? double.NaN)).ToArray();

        int top = string.IsNullOrEmpty(title) ? 0 : 28;
        int width = 2 * PanelWidth, height = PanelHeight + top;
        var sb = new StringBuilder(8192);
        sb.Append(CultureInfo.InvariantCulture, $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        if (top > 0)
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(title!)}</text>\n");
        Panel(sb, 0, top, "Loss", epochs, [("train loss", trainLoss, TrainColor, false), ("test loss", testLoss, TestColor, true)], zeroBased: true, legendAtBottom: false);
        Panel(sb, PanelWidth, top, "Accuracy (%)", epochs, [("train accuracy", trainAcc, TrainColor, false), ("test accuracy", testAcc, TestColor, true)], zeroBased: false, legendAtBottom: true);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>Writes <see cref="RenderCurves"/> to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    /// <param name="path">The destination, such as <c>curves.svg</c>.</param>
    /// <param name="history">Epoch results in order.</param>
    /// <param name="title">An optional title.</param>
    public static void WriteCurves(string path, IReadOnlyList<EpochResult> history, string? title = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        WriteAllTextAtomic(path, RenderCurves(history, title));
    }

    /// <summary>Writes text to a temporary file next to <paramref name="path"/> and renames it over <paramref name="path"/>.</summary>
    internal static void WriteAllTextAtomic(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp");
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static void Panel(StringBuilder sb, int ox, int oy, string title, double[] xs,
                              (string Name, double[] Ys, string Color, bool Dashed)[] series, bool zeroBased, bool legendAtBottom)
    {
        int plotW = PanelWidth - MarginLeft - MarginRight, plotH = PanelHeight - MarginTop - MarginBottom;
        double x0 = ox + MarginLeft, y0 = oy + MarginTop;

        // Ranges: x over the epochs (at least [1, 2]), y over all finite values, padded and rounded to nice ticks.
        double xMin = xs.Length == 0 ? 1 : xs.Min(), xMax = xs.Length == 0 ? 2 : xs.Max();
        if (xMax <= xMin) xMax = xMin + 1;
        var finite = series.SelectMany(s => s.Ys).Where(double.IsFinite).ToList();
        double yMin = finite.Count == 0 ? 0 : finite.Min(), yMax = finite.Count == 0 ? 1 : finite.Max();
        if (zeroBased) yMin = Math.Min(0, yMin);
        if (yMax - yMin < 1e-9) { yMax += 0.5; yMin -= zeroBased && yMin == 0 ? 0 : 0.5; }
        var yTicks = NiceTicks(yMin, yMax, 6);
        yMin = yTicks[0]; yMax = yTicks[^1];
        var xTicks = NiceTicks(xMin, xMax, 8, integers: true).Where(t => t >= xMin - 1e-9 && t <= xMax + 1e-9).ToArray();

        double Px(double x) => x0 + (x - xMin) / (xMax - xMin) * plotW;
        double Py(double y) => y0 + plotH - (y - yMin) / (yMax - yMin) * plotH;

        sb.Append(CultureInfo.InvariantCulture, $"<g class=\"panel\" id=\"{Id(title)}\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 + plotW / 2.0:0.#}\" y=\"{oy + 24}\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{Escape(title)}</text>\n");
        // Grid lines and tick labels.
        foreach (var t in yTicks)
        {
            double py = Py(t);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x0:0.##}\" y1=\"{py:0.##}\" x2=\"{x0 + plotW:0.##}\" y2=\"{py:0.##}\" stroke=\"#e0e0e0\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 - 6:0.##}\" y=\"{py + 4:0.##}\" text-anchor=\"end\">{FormatTick(t, yTicks)}</text>\n");
        }
        foreach (var t in xTicks)
        {
            double px = Px(t);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{px:0.##}\" y1=\"{y0 + plotH:0.##}\" x2=\"{px:0.##}\" y2=\"{y0 + plotH + 5:0.##}\" stroke=\"black\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{px:0.##}\" y=\"{y0 + plotH + 18:0.##}\" text-anchor=\"middle\">{FormatTick(t, xTicks)}</text>\n");
        }
        // Axes and axis titles.
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x0:0.##}\" y=\"{y0:0.##}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"black\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 + plotW / 2.0:0.##}\" y=\"{oy + PanelHeight - 10}\" text-anchor=\"middle\">epoch</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate({ox + 16},{y0 + plotH / 2.0:0.##}) rotate(-90)\" text-anchor=\"middle\">{Escape(title)}</text>\n");

        // Series: a polyline through the finite points, and a marker at each point (so a single epoch still shows).
        foreach (var (name, ys, color, dashed) in series)
        {
            var pts = new StringBuilder();
            var markers = new StringBuilder();
            for (int i = 0; i < xs.Length && i < ys.Length; i++)
            {
                if (!double.IsFinite(ys[i])) continue;
                double px = Px(xs[i]), py = Py(ys[i]);
                if (pts.Length > 0) pts.Append(' ');
                pts.Append(CultureInfo.InvariantCulture, $"{px:0.##},{py:0.##}");
                markers.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{px:0.##}\" cy=\"{py:0.##}\" r=\"2.5\" fill=\"{color}\"><title>{Escape(name)} epoch {xs[i]:0}: {ys[i]:0.####}</title></circle>\n");
            }
            sb.Append(CultureInfo.InvariantCulture, $"<g class=\"series\" data-name=\"{Escape(name)}\">\n");
            if (pts.Length > 0)
                sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{(dashed ? " stroke-dasharray=\"6 4\"" : "")} points=\"{pts}\"/>\n");
            sb.Append(markers);
            sb.Append("</g>\n");
        }

        // Legend in the right corner away from the curves: top for falling losses, bottom for rising accuracies.
        double legendH = 12 + 16 * series.Length;
        double lx = x0 + plotW - 130, ly = legendAtBottom ? y0 + plotH - 8 - legendH : y0 + 8;
        sb.Append(CultureInfo.InvariantCulture, $"<g class=\"legend\">\n<rect x=\"{lx:0.##}\" y=\"{ly:0.##}\" width=\"122\" height=\"{legendH:0.##}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\"/>\n");
        for (int i = 0; i < series.Length; i++)
        {
            double yy = ly + 14 + 16 * i;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{lx + 6:0.##}\" y1=\"{yy - 4:0.##}\" x2=\"{lx + 30:0.##}\" y2=\"{yy - 4:0.##}\" stroke=\"{series[i].Color}\" stroke-width=\"2\"{(series[i].Dashed ? " stroke-dasharray=\"6 4\"" : "")}/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{lx + 36:0.##}\" y=\"{yy:0.##}\">{Escape(series[i].Name)}</text>\n");
        }
        sb.Append("</g>\n</g>\n");
    }

    /// <summary>Evenly spaced "nice" values (step 1, 2, 2.5 or 5 × 10ᵏ) covering [lo, hi] with about <paramref name="target"/> intervals.</summary>
    internal static double[] NiceTicks(double lo, double hi, int target, bool integers = false)
    {
        if (!(hi > lo)) hi = lo + 1;
        double raw = (hi - lo) / Math.Max(1, target);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw * (1 - 1e-9));
        if (integers) step = Math.Max(1, Math.Round(step));
        double start = Math.Floor(lo / step + 1e-9) * step, end = Math.Ceiling(hi / step - 1e-9) * step;
        int count = (int)Math.Round((end - start) / step) + 1;
        var ticks = new double[Math.Max(2, count)];
        for (int i = 0; i < ticks.Length; i++) ticks[i] = start + i * step;
        return ticks;
    }

    /// <summary>Formats a tick with the fewest decimals (0–6) that show every tick of its axis exactly (2.5 stays 2.5, 0.25 stays 0.25).</summary>
    internal static string FormatTick(double v, double[] ticks)
    {
        double step = ticks.Length > 1 ? Math.Abs(ticks[1] - ticks[0]) : 1;
        int decimals = 0;
        while (decimals < 6 && ticks.Any(t => Math.Abs(Math.Round(t, decimals) - t) > step * 1e-6)) decimals++;
        if (Math.Abs(v) < step * 1e-9) v = 0;
        return v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static string Id(string s) => new(s.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());

    internal static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
