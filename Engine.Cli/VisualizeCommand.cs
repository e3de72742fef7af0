using System.CommandLine;
using System.Globalization;
using ConvEngine.Cli.Imaging;
using ConvEngine.Inspect;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary><c>convengine visualize</c>: the filters, feature maps and saliency map of a checkpoint's model for one image.</summary>
internal static class VisualizeCommand
{
    public const string DefaultOut = "runs/visualize";

    public static Command Create(CliContext ctx)
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model architecture (default: the one recorded in the checkpoint)." };
        model.AcceptOnlyFromAmong([.. ModelCatalog.Names]);
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "A checkpoint written by 'convengine train'.", Required = true };
        var image = new Option<string>("--image", "-i") { Description = "A PGM (P2/P5) or PNG (8-bit gray or RGB) image; resized to the model's input.", Required = true };
        var invert = new Option<bool>("--invert") { Description = "Invert the image first (dark drawing on a light background → MNIST style)." };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the pictures.", DefaultValueFactory = _ => DefaultOut };
        var cmd = new Command("visualize", "Draw a checkpoint's filters, its feature maps for one image and the image's saliency map (PNG files).")
        { model, checkpoint, image, invert, outDir };
        cmd.SetAction(r => Run(ctx, r.GetValue(model), r.GetValue(checkpoint)!, r.GetValue(image)!, r.GetValue(invert), r.GetValue(outDir)!));
        return cmd;
    }

    public static int Run(CliContext ctx, string? model, string checkpoint, string imagePath, bool invert, string outDir)
    {
        if (string.IsNullOrWhiteSpace(outDir)) throw new UsageException("--out must name a folder");
        var prepared = ImageInput.Load(model, checkpoint, imagePath, invert);
        var (img, resized, size, spec, net, input, names) =
            (prepared.Original, prepared.Resized, prepared.Size, prepared.Spec, prepared.Net, prepared.Input, prepared.ClassNames);
        int plane = size * size;
        var rawPixels = new byte[plane];
        for (int i = 0; i < plane; i++) rawPixels[i] = (byte)Math.Clamp(Math.Round(resized.Pixels[i] * 255.0), 0, 255);

        var probs = PredictCommand.Softmax(net.Forward(input).ToArray());
        int best = Array.IndexOf(probs, probs.Max());

        Directory.CreateDirectory(outDir);
        var files = new List<string>(Visualizer.SaveAll(net, input, outDir));
        // Visualizer draws input.png from the normalised tensor; redraw it from the pixels the model saw before normalisation.
        var inputPng = Path.Combine(outDir, "input.png");
        new Picture(size, size, 1, rawPixels).Upscale(4).Save(inputPng);
        if (!files.Contains(inputPng)) files.Insert(0, inputPng);

        var inv = CultureInfo.InvariantCulture;
        ctx.Console.MarkupLine($"{Markup.Escape(Path.GetFileName(imagePath))} ({img.Width}x{img.Height}{(img.Width != size || img.Height != size ? $" → {size}x{size}" : "")}) with {Markup.Escape(spec.Display)}: " +
                               $"predicted [bold]{Markup.Escape(names[best])}[/] ({(100 * probs[best]).ToString("0.00", inv)}%); the saliency map shows ∂logit/∂pixel for that class");
        ctx.Console.MarkupLine("filters_*.png: red = positive, blue = negative weight; maps_*.png: one tile per channel, black = its lowest, white = its highest value");
        StepCommand.PrintFiles(ctx, files);
        return CliApp.ExitOk;
    }
}
