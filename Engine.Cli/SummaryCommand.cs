using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary><c>convengine summary</c>: a table of layers with output shapes, parameter counts and receptive fields.</summary>
internal static class SummaryCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliApp.ModelOption();
        var input = new Option<string?>("--input") { Description = "Input shape CxHxW (default: the model's usual input, e.g. 1x28x28 for lenet5, 3x224x224 for vgg16)." };
        var classes = CliApp.PositiveInt("--classes", 10, "Number of output classes.");
        var cmd = new Command("summary", "Print each layer's output shape, parameter count, receptive field and jump.") { model, input, classes };
        cmd.SetAction(r => Run(ctx, r.GetValue(model)!, r.GetValue(input), r.GetValue(classes)));
        return cmd;
    }

    internal static (int C, int H, int W) ParseShape(string s)
    {
        var parts = s.Split('x', 'X', ',');
        if (parts.Length != 3 || !parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 && v <= 4096))
            throw new UsageException($"--input must look like 1x28x28 (channels x height x width, each 1..4096) but is '{s}'");
        var v = parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (v[0], v[1], v[2]);
    }

    public static int Run(CliContext ctx, string modelName, string? input, int classes)
    {
        var spec = ModelCatalog.Get(modelName);
        var (c, h, w) = input is null ? (spec.DefaultChannels, spec.DefaultSize, spec.DefaultSize) : ParseShape(input);
        var net = spec.Create(classes, c, Math.Min(h, w), CpuDevice.Default, 0);
        List<SummaryRow> rows;
        try { rows = ModelSummary.Compute(net, c, h, w); }
        catch (ArgumentException e) { throw new UsageException($"{spec.Name} cannot take a {c}x{h}x{w} input: {CliApp.OneLine(e.Message)}"); }

        var table = new Table().Border(ctx.Interactive ? TableBorder.Rounded : TableBorder.Ascii)
            .Title(Markup.Escape($"{spec.Display}: input [1, {c}, {h}, {w}]"))
            .AddColumn("Layer").AddColumn("Type").AddColumn("Output shape")
            .AddColumn(new TableColumn("Params").RightAligned()).AddColumn(new TableColumn("RF").RightAligned()).AddColumn(new TableColumn("Jump").RightAligned());
        foreach (var row in rows)
            table.AddRow(Markup.Escape(row.Name), Markup.Escape(row.Type), Markup.Escape(ModelSummary.Shape(row.OutputShape)),
                         row.Parameters.ToString("N0", CultureInfo.InvariantCulture), Pair(row.ReceptiveField, "global"), Pair(row.Jump, "-"));
        long total = net.ParameterCount();
        table.AddEmptyRow();
        table.AddRow("[bold]Total[/]", "", Markup.Escape(ModelSummary.Shape(rows[^1].OutputShape)), $"[bold]{total.ToString("N0", CultureInfo.InvariantCulture)}[/]", "", "");
        ctx.Console.Write(table);
        double mb = total * 4.0 / (1024 * 1024);
        ctx.Console.WriteLine($"{total.ToString("N0", CultureInfo.InvariantCulture)} parameters ({mb.ToString("0.00", CultureInfo.InvariantCulture)} MiB as float32); RF = receptive field in input pixels, Jump = input pixels between adjacent outputs.");
        return CliApp.ExitOk;
    }

    private static string Pair((int H, int W)? v, string none) =>
        v is not { } p ? none : p.H == p.W ? p.H.ToString(CultureInfo.InvariantCulture) : $"{p.H}x{p.W}";
}
