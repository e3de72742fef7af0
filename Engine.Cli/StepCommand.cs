using System.CommandLine;
using System.Globalization;
using ConvEngine.Data;
using ConvEngine.Inspect;
using ConvEngine.Losses;
using ConvEngine.NN;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary>
/// <c>convengine step</c>: runs ONE real training step (zero grads, forward, loss, backward, optimizer update) on one batch with
/// <see cref="Stepper"/> and prints every recorded event as a table: each leaf layer's forward (input, output, parameters), the
/// loss, each layer's backward in reverse order (dY, dX, parameter gradients) and each update (new value, new − old). On a
/// terminal it waits for Enter between events. Then it writes the pictures of that step (filters, feature maps of the first
/// image, saliency) and the gradient-flow chart of the step to <c>--out</c>.
/// </summary>
internal static class StepCommand
{
    public const string DefaultOut = "runs/step";

    public static Command Create(CliContext ctx)
    {
        var model = new Option<string?>("--model", "-m")
        { Description = "Model architecture: " + string.Join(", ", ModelCatalog.Names) + " (default: the checkpoint's, else lenet5)." };
        model.AcceptOnlyFromAmong([.. ModelCatalog.Names]);
        var data = new Option<string?>("--data", "-d")
        { Description = "Data set the batch comes from: fashion-mnist, mnist, shapes or an IDX folder (default: the checkpoint's, else fashion-mnist)." };
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Start from the weights of a checkpoint written by 'convengine train' (a fresh optimizer)." };
        var batch = CliApp.PositiveInt("--batch-size", 8, "Images in the batch.");
        var seed = new Option<int>("--seed") { Description = "Seed for the weights (without --checkpoint) and for picking the batch.", DefaultValueFactory = _ => 0 };
        var opt = new Option<string>("--optimizer") { Description = "sgd, adam or adamw (as train).", DefaultValueFactory = _ => "adam" };
        opt.AcceptOnlyFromAmong("sgd", "adam", "adamw");
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default 1e-3 for adam/adamw, 0.05 for sgd)." };
        lr.Validators.Add(r => { if (r.GetValueOrDefault<double?>() is double v && !(v > 0 && double.IsFinite(v))) r.AddError($"--lr must be positive but is {v.ToString(CultureInfo.InvariantCulture)}"); });
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the pictures and the gradient-flow chart of the step.", DefaultValueFactory = _ => DefaultOut };
        var noPause = new Option<bool>("--no-pause") { Description = "Do not wait for Enter between events (never waits when input or output is redirected)." };
        var threads = CliApp.ThreadsOption();
        var cmd = new Command("step", "Walk through one training step on one batch, layer by layer, with the statistics of every tensor.")
        { model, data, checkpoint, batch, seed, opt, lr, outDir, noPause, threads };
        cmd.SetAction(r => Run(ctx, new StepSettings
        {
            Model = r.GetValue(model), Data = r.GetValue(data), Checkpoint = r.GetValue(checkpoint), BatchSize = r.GetValue(batch), Seed = r.GetValue(seed),
            Optimizer = r.GetValue(opt)!, LearningRate = r.GetValue(lr), Out = r.GetValue(outDir)!, NoPause = r.GetValue(noPause), Threads = r.GetValue(threads),
        }));
        return cmd;
    }

    internal sealed record StepSettings
    {
        public string? Model { get; init; }
        public string? Data { get; init; }
        public string? Checkpoint { get; init; }
        public int BatchSize { get; init; } = 8;
        public int Seed { get; init; }
        public string Optimizer { get; init; } = "adam";
        public double? LearningRate { get; init; }
        public string Out { get; init; } = DefaultOut;
        public bool NoPause { get; init; }
        public int Threads { get; init; }
    }

    public static int Run(CliContext ctx, StepSettings s)
    {
        if (string.IsNullOrWhiteSpace(s.Out)) throw new UsageException("--out must name a folder");
        var device = s.Threads == 0 ? CpuDevice.Default : new CpuDevice(s.Threads);
        var info = s.Checkpoint is null ? null : CheckpointInfo.Read(s.Checkpoint);
        string dataArg = s.Data ?? info?.Data ?? "fashion-mnist";
        var data = DataCatalog.Load(dataArg, needTrain: true, null, null);

        ModelSpec spec;
        Module net;
        int channels, size;
        float mean = data.Mean, std = data.Std;
        if (info is not null)
        {
            int classes;
            (spec, net, channels, size, classes) = info.LoadModel(s.Checkpoint!, s.Model, data.ClassNames.Count, device);
            if (classes != data.ClassNames.Count)
                throw new UsageException($"the checkpoint has {classes} classes but {data.Name} has {data.ClassNames.Count}");
            mean = info.Mean ?? mean;
            std = info.Std ?? std;
            net.Train();
        }
        else
        {
            spec = ModelCatalog.Get(s.Model ?? "lenet5");
            (channels, size) = spec.InputFor(data.Train!.Channels, Math.Min(data.Train.Height, data.Train.Width));
            net = spec.Create(data.ClassNames.Count, channels, size, device, s.Seed);
        }

        // The batch: the first BatchSize images of the training set shuffled with the seed, resized for the model, normalised.
        var train = data.Train!;
        int[] picked;
        using (var loader = new DataLoader(train, Math.Min(s.BatchSize, train.Count), new DataLoaderOptions { Shuffle = true, Seed = s.Seed, Prefetch = 0 }))
            picked = loader.Order(0)[..Math.Min(s.BatchSize, train.Count)];
        var raw = DataCatalog.Adapt(train.Subset(picked, train.Name), channels, size);
        var x = raw.Images.ToArray();
        for (int i = 0; i < x.Length; i++) x[i] = (x[i] - mean) / std;
        var images = Tensor.FromArray(device, x, raw.Count, channels, size, size);
        var labels = raw.Labels.ToArray();

        var settings = new TrainSettings { Optimizer = s.Optimizer, LearningRate = s.LearningRate };
        var optimizer = TrainCommand.CreateOptimizer(settings, net);
        var inv = CultureInfo.InvariantCulture;
        var console = ctx.Console;
        console.MarkupLine($"[bold]{Markup.Escape(spec.Display)}[/] on [bold]{Markup.Escape(data.Name)}[/]" +
                           (s.Checkpoint is null ? $" (fresh weights, seed {s.Seed})" : $" (weights from {Markup.Escape(Path.GetFileName(s.Checkpoint))})") +
                           $": one training step on a batch of {raw.Count} image(s) {channels}x{size}x{size}");
        console.MarkupLine($"{s.Optimizer} lr {TrainCommand.FormatLr(settings.EffectiveLearningRate)}, softmax cross-entropy; " +
                           $"inputs normalised as (x − {mean.ToString("0.####", inv)}) / {std.ToString("0.####", inv)}");
        console.MarkupLine("labels: " + Markup.Escape(string.Join(", ", labels.Select(l => data.ClassNames[l]))));

        var trace = new Stepper(net, new SoftmaxCrossEntropy(), optimizer).Run(images, labels);
        bool pause = !s.NoPause && ctx.Interactive && ctx.InputInteractive && ctx.In is not null;
        for (int i = 0; i < trace.Count; i++)
        {
            ctx.Cancellation.ThrowIfCancellationRequested();
            console.MarkupLine(EventHeading(trace[i]));
            console.Write(EventTable(trace[i], ctx.Interactive));
            if (pause && i + 1 < trace.Count)
            {
                console.Markup("[grey]Enter: next event, c + Enter: run to the end[/] ");
                var line = ctx.In!.ReadLine();
                if (line is null || line.Trim().Equals("c", StringComparison.OrdinalIgnoreCase)) pause = false;
            }
        }

        var flows = Flows(trace);
        var flowTable = new Table().Border(ctx.Interactive ? TableBorder.Rounded : TableBorder.Ascii).Title("Gradient flow of this step")
            .AddColumn("Layer").AddColumn(new TableColumn("|grad|").RightAligned()).AddColumn(new TableColumn("|w| before").RightAligned())
            .AddColumn(new TableColumn("|update|").RightAligned()).AddColumn(new TableColumn("|update|/|w|").RightAligned());
        foreach (var f in flows)
            flowTable.AddRow(Markup.Escape(f.Layer), Num(f.GradNorm[0]), Num(f.WeightNorm[0]), Num(f.UpdateNorm[0]), Num(f.UpdateRatio[0]));
        console.Write(flowTable);
        console.MarkupLine($"loss of the step (before the update): [bold]{trace.Loss.ToString("0.######", inv)}[/]; {trace.Count} events " +
                           $"({trace.Of(StepPhase.Forward).Count()} forward, 1 loss, {trace.Of(StepPhase.Backward).Count()} backward, {trace.Of(StepPhase.Update).Count()} update)");

        Directory.CreateDirectory(s.Out);
        var files = new List<string>(Visualizer.SaveAll(net, images, s.Out));
        // Visualizer draws input.png from the tensor it is given (normalised here); redraw it from the raw pixels.
        if (InputPicture(raw, 0) is { } pic) { var p = Path.Combine(s.Out, "input.png"); pic.Upscale(4).Save(p); if (!files.Contains(p)) files.Insert(0, p); }
        if (flows.Count > 0)
        {
            var chart = Path.Combine(s.Out, "gradient_flow.svg");
            SvgChart.Save(chart, SvgChart.Bars(flows.Select(f => f.Layer).ToList(),
                [new ChartSeries("|grad|", flows.Select(f => f.GradNorm[0]).ToList()), new ChartSeries("|update|/|w|", flows.Select(f => f.UpdateRatio[0]).ToList())],
                $"Gradient flow of one step: {spec.Display} on {data.Name}", "log10 scale", logY: true));
            files.Add(chart);
        }
        PrintFiles(ctx, files);
        return CliApp.ExitOk;
    }

    /// <summary>The line above an event's table: index, phase, layer and the layer's description.</summary>
    internal static string EventHeading(StepEvent e) =>
        $"[bold]#{e.Index} {e.Phase} {Markup.Escape(e.Layer)}[/]: {Markup.Escape(e.Description)}";

    /// <summary>One event as a table: one row per tensor with its statistics, and a caption saying what the tensors are.</summary>
    internal static Table EventTable(StepEvent e, bool interactive)
    {
        var table = new Table().Border(interactive ? TableBorder.Rounded : TableBorder.Ascii)
            .AddColumn("Tensor").AddColumn("Shape")
            .AddColumn(new TableColumn("Mean").RightAligned()).AddColumn(new TableColumn("Std").RightAligned())
            .AddColumn(new TableColumn("Min").RightAligned()).AddColumn(new TableColumn("Max").RightAligned())
            .AddColumn(new TableColumn("Zeros").RightAligned()).AddColumn(new TableColumn("L2 norm").RightAligned());
        foreach (var t in e.Tensors)
        {
            var st = t.Stats;
            table.AddRow(Markup.Escape(t.Role), Markup.Escape(t.ShapeString), Num(st.Mean), Num(st.Std), Num(st.Min), Num(st.Max),
                         (100 * st.ZeroFraction).ToString("0.0", CultureInfo.InvariantCulture) + "%", Num(st.L2Norm));
        }
        string caption = e.Phase switch
        {
            StepPhase.Forward => "output = layer(input)",
            StepPhase.Loss => string.Create(CultureInfo.InvariantCulture, $"loss = {e.Loss:0.######}; dX = ∂loss/∂logits = (probabilities − one-hot(labels)) / N"),
            StepPhase.Backward => "dY = ∂loss/∂output in, dX = ∂loss/∂input out" + (e.Tensors.Any(t => t.Role.EndsWith(".grad", StringComparison.Ordinal)) ? ", *.grad = ∂loss/∂parameter" : ""),
            _ => "parameters after the optimizer step; *.update = new − old",
        };
        return table.Caption(Markup.Escape(caption));
    }

    /// <summary>Per layer with parameters (forward order): ‖grad‖, ‖w‖ before the step and ‖new − old‖, from the recorded events.</summary>
    internal static List<LayerFlow> Flows(StepTrace trace)
    {
        static double Norm(IEnumerable<TensorSnapshot> ts) => Math.Sqrt(ts.Sum(t => t.Stats.L2Norm * t.Stats.L2Norm));
        var flows = new List<LayerFlow>();
        foreach (var u in trace.Of(StepPhase.Update))
        {
            var fwd = trace.Get(StepPhase.Forward, u.Layer);
            var bwd = trace.Get(StepPhase.Backward, u.Layer);
            double g = Norm(bwd.Tensors.Where(t => t.Role.EndsWith(".grad", StringComparison.Ordinal)));
            double w = Norm(fwd.Tensors.Where(t => t.Role is not "input" and not "output"));
            double d = Norm(u.Tensors.Where(t => t.Role.EndsWith(".update", StringComparison.Ordinal)));
            flows.Add(new LayerFlow(u.Layer, u.Description, u.Module?.ParameterCount() ?? 0, [g], [w], [d]));
        }
        return flows;
    }

    /// <summary>Image <paramref name="index"/> of a data set with values in [0, 1] as a gray or RGB picture; null for other channel counts.</summary>
    internal static Picture? InputPicture(Dataset d, int index)
    {
        int c = d.Channels, plane = d.Height * d.Width;
        if (c != 1 && c != 3) return null;
        var img = d.Image(index);
        var px = new byte[plane * c];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < plane; i++) px[i * c + ch] = (byte)Math.Clamp(Math.Round(img[ch * plane + i] * 255.0), 0, 255);
        return new Picture(d.Width, d.Height, c, px);
    }

    internal static void PrintFiles(CliContext ctx, IEnumerable<string> files)
    {
        var list = files.Distinct().ToList();
        ctx.Console.MarkupLine($"wrote {list.Count} file(s):");
        foreach (var f in list) ctx.Console.MarkupLine($"  [link]{Markup.Escape(Path.GetFullPath(f))}[/]");
    }

    internal static string Num(double v) =>
        v == 0 ? "0" : Math.Abs(v) >= 1e4 || Math.Abs(v) < 0.00095 ? v.ToString("0.000e+0", CultureInfo.InvariantCulture) : v.ToString("0.0000", CultureInfo.InvariantCulture);
}
