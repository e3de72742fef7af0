using System.CommandLine;
using System.Globalization;
using ConvEngine.Data;
using ConvEngine.Training;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary><c>convengine eval</c>: test accuracy, per-class accuracy and the confusion matrix of a checkpoint.</summary>
internal static class EvalCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model architecture (default: the one recorded in the checkpoint)." };
        model.AcceptOnlyFromAmong([.. ModelCatalog.Names]);
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "A checkpoint written by 'convengine train'.", Required = true };
        var data = new Option<string?>("--data", "-d") { Description = "Data set (default: the one recorded in the checkpoint): fashion-mnist, mnist, shapes or an IDX folder." };
        var limit = new Option<int?>("--limit-test") { Description = "Use only the first N test images." };
        limit.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is int v && v < 1) r.AddError($"--limit-test must be at least 1 but is {v}"); });
        var batch = CliApp.PositiveInt("--batch-size", 256, "Evaluation batch size.");
        var threads = CliApp.ThreadsOption();
        var deviceOpt = CliApp.DeviceOption();
        var cmd = new Command("eval", "Evaluate a checkpoint on a test set.") { model, checkpoint, data, limit, batch, threads, deviceOpt };
        cmd.SetAction(r => Run(ctx, r.GetValue(model), r.GetValue(checkpoint)!, r.GetValue(data), r.GetValue(limit), r.GetValue(batch), r.GetValue(threads), r.GetValue(deviceOpt)!));
        return cmd;
    }

    public static int Run(CliContext ctx, string? model, string checkpoint, string? dataName, int? limitTest, int batchSize, int threads, string deviceName = "cpu")
    {
        var device = CliApp.CreateDevice(deviceName, threads);
        var info = CheckpointInfo.Read(checkpoint);
        string dataArg = dataName ?? info.Data ?? throw new UsageException("the checkpoint does not record its data set: pass --data");
        var data = DataCatalog.Load(dataArg, needTrain: false, null, limitTest);
        var (spec, net, channels, size, classes) = info.LoadModel(checkpoint, model, data.ClassNames.Count, device);
        if (classes != data.ClassNames.Count)
            throw new UsageException($"the checkpoint has {classes} classes but {data.Name} has {data.ClassNames.Count}");
        var test = DataCatalog.Adapt(data.Test, channels, size);
        float mean = info.Mean ?? data.Mean, std = info.Std ?? data.Std;
        using var loader = new DataLoader(test, batchSize, new DataLoaderOptions { Shuffle = false, Mean = [mean], Std = [std], Device = device });
        var r = Trainer.EvaluateModel(net, BatchSource.From(loader), ctx.Cancellation);

        var inv = CultureInfo.InvariantCulture;
        ctx.Console.MarkupLine($"{Markup.Escape(spec.Display)} on {Markup.Escape(data.Name)} ({r.Samples:N0} test images): accuracy [bold]{(100 * r.Accuracy).ToString("0.00", inv)}%[/], loss {r.Loss.ToString("0.0000", inv)}");
        var names = data.ClassNames;
        var table = new Table().Border(ctx.Interactive ? TableBorder.Rounded : TableBorder.Ascii).Title("Confusion matrix (rows: true class, columns: predicted)");
        table.AddColumn("true \\ predicted");
        for (int j = 0; j < r.NumClasses; j++) table.AddColumn(new TableColumn(Markup.Escape(Short(names[j]))).RightAligned());
        table.AddColumn(new TableColumn("accuracy").RightAligned());
        for (int i = 0; i < r.NumClasses; i++)
        {
            var cells = new List<string> { Markup.Escape(names[i]) };
            for (int j = 0; j < r.NumClasses; j++)
                cells.Add(i == j ? $"[bold]{r.ConfusionMatrix[i, j]}[/]" : r.ConfusionMatrix[i, j].ToString(inv));
            cells.Add(double.IsNaN(r.PerClassAccuracy[i]) ? "-" : (100 * r.PerClassAccuracy[i]).ToString("0.0", inv) + "%");
            table.AddRow(cells.ToArray());
        }
        ctx.Console.Write(table);
        return CliApp.ExitOk;
    }

    private static string Short(string s) => s.Length <= 8 ? s : s[..7] + "…";
}
