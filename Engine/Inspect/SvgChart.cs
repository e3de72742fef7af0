using System.Globalization;
using System.Xml.Linq;

namespace ConvEngine.Inspect;

/// <summary>One named series of a chart.</summary>
/// <param name="Name">The legend text.</param>
/// <param name="Values">The y values (line charts: at x = 0, 1, 2, … unless <paramref name="X"/> is given).</param>
/// <param name="X">Optional x values, one per y value.</param>
public sealed record ChartSeries(string Name, IReadOnlyList<double> Values, IReadOnlyList<double>? X = null);

/// <summary>
/// Small SVG charts (line and grouped bar charts) built as XML (<see cref="XDocument"/>), so the output is always well-formed.
/// Log-scale axes ignore values ≤ 0 and non-finite values.
/// </summary>
public static class SvgChart
{
    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    private static readonly XNamespace Ns = "http://www.w3.org/2000/svg";
    private const double W = 720, H = 400, Left = 80, Right = 160, Top = 40, Bottom = 90;

    /// <summary>A line chart of one or more series.</summary>
    /// <param name="series">The series.</param>
    /// <param name="title">The title.</param>
    /// <param name="xLabel">The x-axis label.</param>
    /// <param name="yLabel">The y-axis label.</param>
    /// <param name="logY">Whether the y axis is logarithmic (base 10).</param>
    public static string Line(IReadOnlyList<ChartSeries> series, string title, string xLabel = "", string yLabel = "", bool logY = false)
    {
        ArgumentNullException.ThrowIfNull(series);
        var pts = series.Select(s => s.Values.Select((v, i) => (X: s.X is null ? i : s.X[i], Y: v)).Where(p => Usable(p.Y, logY) && double.IsFinite(p.X)).ToList()).ToList();
        var all = pts.SelectMany(p => p).ToList();
        double x0 = all.Count > 0 ? all.Min(p => p.X) : 0, x1 = all.Count > 0 ? all.Max(p => p.X) : 1;
        if (x1 <= x0) x1 = x0 + 1;
        var (y0, y1) = Range(all.Select(p => p.Y), logY);
        var svg = Frame(title, xLabel, yLabel, y0, y1, logY, out var plot);
        double Px(double x) => Left + (x - x0) / (x1 - x0) * (W - Left - Right);
        foreach (var t in Ticks(x0, x1))
            plot.Add(Text(Px(t), H - Bottom + 18, Label(t), "middle"));
        for (int s = 0; s < series.Count; s++)
        {
            var color = Palette[s % Palette.Length];
            var d = string.Join(" ", pts[s].Select((p, i) => (i == 0 ? "M" : "L") + Num(Px(p.X)) + "," + Num(Py(p.Y, y0, y1, logY))));
            if (pts[s].Count > 0)
                plot.Add(new XElement(Ns + "path", new XAttribute("d", d), new XAttribute("fill", "none"), new XAttribute("stroke", color), new XAttribute("stroke-width", "2")));
            Legend(plot, s, series[s].Name, color);
        }
        return ToText(svg);
    }

    /// <summary>A grouped bar chart: one group per category, one bar per series.</summary>
    /// <param name="categories">The category labels (drawn rotated under the bars).</param>
    /// <param name="series">The series; each has one value per category.</param>
    /// <param name="title">The title.</param>
    /// <param name="yLabel">The y-axis label.</param>
    /// <param name="logY">Whether the y axis is logarithmic (base 10); bars start at the bottom of the axis.</param>
    public static string Bars(IReadOnlyList<string> categories, IReadOnlyList<ChartSeries> series, string title, string yLabel = "", bool logY = false)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(series);
        foreach (var s in series)
            if (s.Values.Count != categories.Count)
                throw new ArgumentException($"Series '{s.Name}' has {s.Values.Count} values but there are {categories.Count} categories.", nameof(series));
        var (y0, y1) = Range(series.SelectMany(s => s.Values).Where(v => Usable(v, logY)), logY);
        if (!logY) y0 = Math.Min(y0, 0);
        var svg = Frame(title, "", yLabel, y0, y1, logY, out var plot);
        double groupW = (W - Left - Right) / Math.Max(1, categories.Count), barW = groupW * 0.8 / Math.Max(1, series.Count);
        double baseY = logY ? H - Bottom : Py(0, y0, y1, false);
        for (int c = 0; c < categories.Count; c++)
        {
            double gx = Left + c * groupW + groupW * 0.1;
            for (int s = 0; s < series.Count; s++)
            {
                double v = series[s].Values[c];
                if (!Usable(v, logY)) continue;
                double y = Py(v, y0, y1, logY);
                plot.Add(new XElement(Ns + "rect", new XAttribute("x", Num(gx + s * barW)), new XAttribute("y", Num(Math.Min(y, baseY))),
                    new XAttribute("width", Num(barW)), new XAttribute("height", Num(Math.Abs(baseY - y))), new XAttribute("fill", Palette[s % Palette.Length]),
                    new XElement(Ns + "title", $"{categories[c]} {series[s].Name}: {v.ToString("G4", CultureInfo.InvariantCulture)}")));
            }
            double lx = Left + c * groupW + groupW / 2, ly = H - Bottom + 12;
            plot.Add(new XElement(Ns + "text", new XAttribute("x", Num(lx)), new XAttribute("y", Num(ly)), new XAttribute("font-size", "10"),
                new XAttribute("text-anchor", "end"), new XAttribute("transform", $"rotate(-40 {Num(lx)} {Num(ly)})"), categories[c]));
        }
        for (int s = 0; s < series.Count; s++) Legend(plot, s, series[s].Name, Palette[s % Palette.Length]);
        return ToText(svg);
    }

    /// <summary>Writes <paramref name="svg"/> to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    /// <param name="path">The destination.</param>
    /// <param name="svg">The SVG text.</param>
    public static void Save(string path, string svg)
    {
        ArgumentNullException.ThrowIfNull(svg);
        AtomicFile.WriteText(path, svg);
    }

    private static bool Usable(double v, bool logY) => double.IsFinite(v) && (!logY || v > 0);

    private static (double, double) Range(IEnumerable<double> values, bool logY)
    {
        var v = values.ToList();
        if (v.Count == 0) return logY ? (1, 10) : (0, 1);
        double lo = v.Min(), hi = v.Max();
        if (logY) return (Math.Pow(10, Math.Floor(Math.Log10(lo))), Math.Pow(10, Math.Ceiling(Math.Log10(hi)) + (hi == lo ? 1 : 0)));
        if (hi <= lo) { hi = lo + 1; }
        double pad = (hi - lo) * 0.05;
        return (lo - pad, hi + pad);
    }

    private static double Py(double v, double y0, double y1, bool logY)
    {
        double t = logY ? (Math.Log10(v) - Math.Log10(y0)) / (Math.Log10(y1) - Math.Log10(y0)) : (v - y0) / (y1 - y0);
        return H - Bottom - t * (H - Top - Bottom);
    }

    private static IEnumerable<double> Ticks(double lo, double hi)
    {
        double step = Math.Pow(10, Math.Floor(Math.Log10((hi - lo) / 5)));
        if ((hi - lo) / step > 10) step *= 2;
        if ((hi - lo) / step > 10) step *= 2.5;
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step) yield return t;
    }

    private static XElement Frame(string title, string xLabel, string yLabel, double y0, double y1, bool logY, out XElement plot)
    {
        var svg = new XElement(Ns + "svg", new XAttribute("width", Num(W)), new XAttribute("height", Num(H)),
            new XAttribute("viewBox", $"0 0 {Num(W)} {Num(H)}"), new XAttribute("font-family", "sans-serif"));
        svg.Add(new XElement(Ns + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "white")));
        svg.Add(Text(W / 2, 24, title ?? "", "middle", 16));
        svg.Add(Text((Left + W - Right) / 2, H - 8, xLabel ?? "", "middle"));
        var yl = Text(18, (Top + H - Bottom) / 2, yLabel ?? "", "middle");
        yl.Add(new XAttribute("transform", $"rotate(-90 18 {Num((Top + H - Bottom) / 2)})"));
        svg.Add(yl);
        svg.Add(new XElement(Ns + "line", new XAttribute("x1", Num(Left)), new XAttribute("y1", Num(H - Bottom)), new XAttribute("x2", Num(W - Right)), new XAttribute("y2", Num(H - Bottom)), new XAttribute("stroke", "black")));
        svg.Add(new XElement(Ns + "line", new XAttribute("x1", Num(Left)), new XAttribute("y1", Num(Top)), new XAttribute("x2", Num(Left)), new XAttribute("y2", Num(H - Bottom)), new XAttribute("stroke", "black")));
        var yt = logY
            ? Enumerable.Range((int)Math.Round(Math.Log10(y0)), (int)Math.Round(Math.Log10(y1) - Math.Log10(y0)) + 1).Select(e => Math.Pow(10, e))
            : Ticks(y0, y1);
        var ticks = yt.ToList();
        int every = Math.Max(1, ticks.Count / 10);
        for (int i = 0; i < ticks.Count; i += every)
        {
            double y = Py(ticks[i], y0, y1, logY);
            svg.Add(new XElement(Ns + "line", new XAttribute("x1", Num(Left - 4)), new XAttribute("y1", Num(y)), new XAttribute("x2", Num(W - Right)), new XAttribute("y2", Num(y)), new XAttribute("stroke", "#ddd")));
            svg.Add(Text(Left - 6, y + 4, logY ? ticks[i].ToString("0E0", CultureInfo.InvariantCulture) : Label(ticks[i]), "end"));
        }
        plot = new XElement(Ns + "g");
        svg.Add(plot);
        return svg;
    }

    private static void Legend(XElement plot, int index, string name, string color)
    {
        double y = Top + 10 + index * 18;
        plot.Add(new XElement(Ns + "rect", new XAttribute("x", Num(W - Right + 10)), new XAttribute("y", Num(y - 9)), new XAttribute("width", "12"), new XAttribute("height", "12"), new XAttribute("fill", color)));
        plot.Add(Text(W - Right + 28, y + 2, name ?? "", "start"));
    }

    private static XElement Text(double x, double y, string text, string anchor, int size = 11) =>
        new(Ns + "text", new XAttribute("x", Num(x)), new XAttribute("y", Num(y)), new XAttribute("font-size", size), new XAttribute("text-anchor", anchor), text);

    private static string Label(double v) => (Math.Abs(v) < 1e-12 ? 0 : v).ToString("G4", CultureInfo.InvariantCulture);

    private static string Num(double v) => Math.Round(v, 3).ToString("0.###", CultureInfo.InvariantCulture);

    private static string ToText(XElement svg) => new XDocument(new XDeclaration("1.0", "utf-8", null), svg).Declaration + Environment.NewLine + svg.ToString();
}
