using System.CommandLine;
using ConvEngine.Inspect;

namespace ConvEngine.Cli;

/// <summary><c>convengine demo</c>: a convolution with hand-set weights (edge detectors, blur): input, kernel and output as text and PNG.</summary>
internal static class DemoCommand
{
    public const string DefaultOut = "runs/demo";

    public static Command Create(CliContext ctx)
    {
        var name = new Argument<string>("name") { Description = "Which demo: " + string.Join(", ", Demos.Names) + "." };
        name.AcceptOnlyFromAmong([.. Demos.Names]);
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for <name>_input.png, <name>_kernel.png and <name>_output.png.", DefaultValueFactory = _ => DefaultOut };
        var cmd = new Command("demo", "Run a convolution with a hand-set kernel (edges, rgb-edges, blur): print input, kernel and output, save them as PNG.")
        { name, outDir };
        cmd.SetAction(r => Run(ctx, r.GetValue(name)!, r.GetValue(outDir)!));
        return cmd;
    }

    public static int Run(CliContext ctx, string name, string outDir)
    {
        if (string.IsNullOrWhiteSpace(outDir)) throw new UsageException("--out must name a folder");
        var result = Demos.Run(name);
        // Plain text on purpose (not Spectre widgets): the matrices must keep their columns at any terminal width.
        ctx.Out.Write(result.Describe());
        ctx.Out.Flush();
        Directory.CreateDirectory(outDir);
        var files = new List<string>(result.SavePictures(outDir));
        var kernel = Path.Combine(outDir, name + "_kernel.png");
        FilterGrid.Render(result.Layer, scale: 16).Save(kernel);
        files.Insert(1, kernel);
        StepCommand.PrintFiles(ctx, files);
        return CliApp.ExitOk;
    }
}
