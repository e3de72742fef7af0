using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary><c>convengine predict</c>: the top classes for one PGM or PNG image.</summary>
internal static class PredictCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model architecture (default: the one recorded in the checkpoint)." };
        model.AcceptOnlyFromAmong([.. ModelCatalog.Names]);
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "A checkpoint written by 'convengine train'.", Required = true };
        var image = new Option<string>("--image", "-i") { Description = "A PGM (P2/P5) or PNG (8-bit gray or RGB) image; resized to the model's input.", Required = true };
        var invert = new Option<bool>("--invert") { Description = "Invert the image first (dark drawing on a light background → MNIST style)." };
        var top = CliApp.PositiveInt("--top", 5, "How many classes to list.");
        var cmd = new Command("predict", "Classify one image with a checkpoint.") { model, checkpoint, image, invert, top };
        cmd.SetAction(r => Run(ctx, r.GetValue(model), r.GetValue(checkpoint)!, r.GetValue(image)!, r.GetValue(invert), r.GetValue(top)));
        return cmd;
    }

    public static int Run(CliContext ctx, string? model, string checkpoint, string imagePath, bool invert, int top)
    {
        var input = ImageInput.Load(model, checkpoint, imagePath, invert);
        var (img, size, spec, classes, names) = (input.Original, input.Size, input.Spec, input.Classes, input.ClassNames);
        var probs = Softmax(input.Net.Forward(input.Input).ToArray());

        var inv = CultureInfo.InvariantCulture;
        ctx.Console.MarkupLine($"{Markup.Escape(Path.GetFileName(imagePath))} ({img.Width}x{img.Height}{(img.Width != size || img.Height != size ? $" → {size}x{size}" : "")}) with {Markup.Escape(spec.Display)}:");
        var table = new Table().Border(ctx.Interactive ? TableBorder.Rounded : TableBorder.Ascii)
            .AddColumn(new TableColumn("#").RightAligned()).AddColumn("Class").AddColumn(new TableColumn("Probability").RightAligned()).AddColumn("");
        foreach (var (k, rank) in Enumerable.Range(0, classes).OrderByDescending(k => probs[k]).ThenBy(k => k).Take(top).Select((k, r) => (k, r)))
            table.AddRow((rank + 1).ToString(inv), Markup.Escape(names[k]), (100 * probs[k]).ToString("0.00", inv) + "%", new string('█', (int)Math.Round(20 * probs[k])));
        ctx.Console.Write(table);
        return CliApp.ExitOk;
    }

    internal static double[] Softmax(float[] logits)
    {
        double max = logits.Max(), sum = 0;
        var p = new double[logits.Length];
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }
}
