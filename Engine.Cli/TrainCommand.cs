using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ConvEngine.Data;
using ConvEngine.NN;
using ConvEngine.Optim;
using ConvEngine.Serialization;
using ConvEngine.Training;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary>Everything <c>convengine train</c> needs, after parsing.</summary>
internal sealed record TrainSettings
{
    public string Model { get; init; } = "lenet5";
    public string Data { get; init; } = "fashion-mnist";
    public int Epochs { get; init; } = 8;
    public int BatchSize { get; init; } = 64;
    public double? LearningRate { get; init; }
    public string Optimizer { get; init; } = "adam";
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; }
    public string Schedule { get; init; } = "cosine";
    public int Warmup { get; init; }
    public int Seed { get; init; }
    public int Threads { get; init; }
    public string Device { get; init; } = "cpu";
    public string? Out { get; init; } = "runs/model.safetensors";
    public string? Curves { get; init; } = "runs/curves.svg";
    public int? LimitTrain { get; init; }
    public int? LimitTest { get; init; }
    public int Patience { get; init; }
    public double ClipGrad { get; init; }
    public bool CheckNumerics { get; init; }

    /// <summary>The learning rate used when --lr is not given.</summary>
    public double EffectiveLearningRate => LearningRate ?? (Optimizer == "sgd" ? 0.05 : 1e-3);
}

/// <summary><c>convengine train</c>: trains a model with live progress, then prints a summary, writes curves and a checkpoint.</summary>
internal static class TrainCommand
{
    public static Command Create(CliContext ctx)
    {
        var d = new TrainSettings();
        var model = CliApp.ModelOption(required: false);
        var data = CliApp.DataOption();
        var epochs = CliApp.PositiveInt("--epochs", d.Epochs, "Training epochs.");
        var batch = CliApp.PositiveInt("--batch-size", d.BatchSize, "Mini-batch size.");
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default 1e-3 for adam/adamw, 0.05 for sgd)." };
        lr.Validators.Add(r => { if (r.GetValueOrDefault<double?>() is double v && !(v > 0 && double.IsFinite(v))) r.AddError($"--lr must be positive but is {v.ToString(CultureInfo.InvariantCulture)}"); });
        var opt = new Option<string>("--optimizer") { Description = "sgd, adam or adamw.", DefaultValueFactory = _ => d.Optimizer };
        opt.AcceptOnlyFromAmong("sgd", "adam", "adamw");
        var momentum = CliApp.NonNegativeDouble("--momentum", d.Momentum, "SGD momentum.");
        var wd = CliApp.NonNegativeDouble("--weight-decay", d.WeightDecay, "Weight decay (L2 for sgd/adam, decoupled for adamw).");
        var schedule = new Option<string>("--schedule") { Description = "Learning-rate schedule per epoch: none, step (x0.1 every third of the epochs) or cosine.", DefaultValueFactory = _ => d.Schedule };
        schedule.AcceptOnlyFromAmong("none", "step", "cosine");
        var warmup = CliApp.PositiveInt("--warmup", d.Warmup, "Linear warm-up epochs before the schedule.", min: 0);
        var seed = new Option<int>("--seed") { Description = "Seed for weights and shuffling.", DefaultValueFactory = _ => d.Seed };
        var threads = CliApp.ThreadsOption();
        var deviceOpt = CliApp.DeviceOption();
        var outOpt = new Option<string?>("--out", "-o") { Description = "Checkpoint file (safetensors) written at the end; 'none' to skip.", DefaultValueFactory = _ => d.Out };
        var curves = new Option<string?>("--curves") { Description = "SVG file with loss and accuracy curves, rewritten after every epoch; 'none' to skip.", DefaultValueFactory = _ => d.Curves };
        var limitTrain = new Option<int?>("--limit-train") { Description = "Use only the first N training images." };
        var limitTest = new Option<int?>("--limit-test") { Description = "Use only the first N test images." };
        foreach (var o in new[] { limitTrain, limitTest })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is int v && v < 1) r.AddError($"{r.Option.Name} must be at least 1 but is {v}"); });
        var patience = CliApp.PositiveInt("--patience", d.Patience, "Early stopping: stop after N epochs without a better test accuracy (0: off).", min: 0);
        var clip = CliApp.NonNegativeDouble("--clip-grad", d.ClipGrad, "Clip the global gradient norm to this value (0: off).");
        var checkNumerics = new Option<bool>("--check-numerics") { Description = "Stop at the first NaN or Inf, naming the layer that produced it." };

        var cmd = new Command("train", "Train a model and report test accuracy.")
        { model, data, epochs, batch, lr, opt, momentum, wd, schedule, warmup, seed, threads, deviceOpt, outOpt, curves, limitTrain, limitTest, patience, clip, checkNumerics };
        cmd.SetAction(r => Run(ctx, new TrainSettings
        {
            Model = r.GetValue(model)!, Data = r.GetValue(data)!, Epochs = r.GetValue(epochs), BatchSize = r.GetValue(batch),
            LearningRate = r.GetValue(lr), Optimizer = r.GetValue(opt)!, Momentum = r.GetValue(momentum), WeightDecay = r.GetValue(wd),
            Schedule = r.GetValue(schedule)!, Warmup = r.GetValue(warmup), Seed = r.GetValue(seed), Threads = r.GetValue(threads), Device = r.GetValue(deviceOpt)!,
            Out = NoneToNull(r.GetValue(outOpt)), Curves = NoneToNull(r.GetValue(curves)),
            LimitTrain = r.GetValue(limitTrain), LimitTest = r.GetValue(limitTest), Patience = r.GetValue(patience), ClipGrad = r.GetValue(clip), CheckNumerics = r.GetValue(checkNumerics),
        }));
        return cmd;
    }

    private static string? NoneToNull(string? s) => string.IsNullOrWhiteSpace(s) || s == "none" ? null : s;

    internal static Optimizer CreateOptimizer(TrainSettings s, Module model) => s.Optimizer switch
    {
        "sgd" => new Sgd(model.Parameters(), lr: (float)s.EffectiveLearningRate, momentum: (float)s.Momentum, weightDecay: (float)s.WeightDecay),
        "adam" => new Adam(model.Parameters(), lr: (float)s.EffectiveLearningRate, weightDecay: (float)s.WeightDecay),
        "adamw" => new AdamW(model.Parameters(), lr: (float)s.EffectiveLearningRate, weightDecay: (float)s.WeightDecay),
        _ => throw new UsageException($"unknown optimizer '{s.Optimizer}' (sgd, adam or adamw)"),
    };

    private static void RequireFilePath(string option, string? path, string what, string example)
    {
        if (path is not null && Directory.Exists(path))
            throw new UsageException($"{option} '{path}' is a folder; it must name the {what} file to write (e.g. {Path.Combine(path, example)})");
    }

    public static int Run(CliContext ctx, TrainSettings s)
    {
        if (s.Warmup >= s.Epochs && s.Warmup > 0)
            throw new UsageException($"--warmup ({s.Warmup}) must be smaller than --epochs ({s.Epochs})");
        // Checked before training, not when the files are written at the end of a run that may take hours.
        RequireFilePath("--out", s.Out, "checkpoint", "model.safetensors");
        RequireFilePath("--curves", s.Curves, "SVG", "curves.svg");
        var spec = ModelCatalog.Get(s.Model);
        var device = CliApp.CreateDevice(s.Device, s.Threads);
        var console = ctx.Console;

        var loadWatch = Stopwatch.StartNew();
        var data = DataCatalog.Load(s.Data, needTrain: true, s.LimitTrain, s.LimitTest);
        var (channels, size) = spec.InputFor(data.Test.Channels, Math.Min(data.Test.Height, data.Test.Width));
        var train = DataCatalog.Adapt(data.Train!, channels, size);
        var test = DataCatalog.Adapt(data.Test, channels, size);
        var net = spec.Create(data.ClassNames.Count, channels, size, device, s.Seed);
        var optimizer = CreateOptimizer(s, net);
        var scheduler = Schedules.Create(s.Schedule, optimizer, s.Epochs, s.Warmup);

        var norm = new DataLoaderOptions { Mean = [data.Mean], Std = [data.Std], Device = device };
        using var trainLoader = new DataLoader(train, s.BatchSize, norm with { Shuffle = true, Seed = s.Seed });
        using var testLoader = new DataLoader(test, Math.Max(s.BatchSize, 256), norm with { Shuffle = false });

        console.MarkupLine($"[bold]{Markup.Escape(spec.Display)}[/] on [bold]{Markup.Escape(data.Name)}[/]: {train.Count:N0} training / {test.Count:N0} test images " +
                           $"{channels}x{size}x{size}, {data.ClassNames.Count} classes, {net.ParameterCount():N0} parameters, {Markup.Escape(device.Name)}");
        console.MarkupLine($"{s.Optimizer} lr {FormatLr(s.EffectiveLearningRate)}" +
                           (s.Optimizer == "sgd" ? $" momentum {s.Momentum.ToString(CultureInfo.InvariantCulture)}" : "") +
                           (s.WeightDecay > 0 ? $" weight decay {s.WeightDecay.ToString("G3", CultureInfo.InvariantCulture)}" : "") +
                           $", {s.Schedule} schedule" + (s.Warmup > 0 ? $" after {s.Warmup} warm-up epochs" : "") +
                           $", batch {s.BatchSize}, {s.Epochs} epochs, seed {s.Seed} (data ready in {loadWatch.Elapsed.TotalSeconds:0.0} s)");

        var trainer = new Trainer(net, optimizer)
        {
            Scheduler = scheduler,
            MaxGradNorm = s.ClipGrad > 0 ? s.ClipGrad : null,
            CheckNumerics = s.CheckNumerics,
            EarlyStopping = s.Patience > 0 ? new EarlyStopping(s.Patience) : null,
            ProgressInterval = TimeSpan.FromMilliseconds(ctx.Interactive ? 100 : 0),
        };
        string title = $"{spec.Display} on {data.Name}";
        trainer.EpochCompleted += e =>
        {
            console.MarkupLine(EpochLine(e, s.Epochs));
            if (s.Curves is not null) Charts.WriteCurves(s.Curves, trainer.History, title);
        };

        var trainSource = BatchSource.From(trainLoader);
        var testSource = BatchSource.From(testLoader);
        var total = Stopwatch.StartNew();
        bool cancelled = false;
        try
        {
            if (ctx.Interactive)
            {
                console.Progress()
                    .AutoClear(true).HideCompleted(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(pctx =>
                    {
                        ProgressTask? task = null;
                        var progress = new SyncProgress(p =>
                        {
                            if (task is null || task.Description.StartsWith($"epoch {p.Epoch}/", StringComparison.Ordinal) == false)
                            {
                                task?.StopTask();
                                task = pctx.AddTask($"epoch {p.Epoch}/{p.Epochs}", maxValue: Math.Max(1, p.BatchesPerEpoch));
                            }
                            task.Description = $"epoch {p.Epoch}/{p.Epochs}  loss {p.RunningLoss:0.0000}  acc {100 * p.RunningAccuracy:0.00}%  {p.SamplesPerSecond:N0} img/s";
                            task.Value = p.Batch;
                        });
                        trainer.Fit(trainSource, testSource, s.Epochs, progress, ctx.Cancellation);
                    });
            }
            else
            {
                trainer.Fit(trainSource, testSource, s.Epochs, new PlainProgress(ctx.Out), ctx.Cancellation);
            }
        }
        catch (OperationCanceledException)
        {
            cancelled = true;
            console.MarkupLine($"[yellow]cancelled after {trainer.History.Count} complete epoch(s)[/]");
            if (trainer.History.Count == 0) throw;
        }

        var history = trainer.History;
        var last = history.Last!;
        PrintSummary(console, ctx.Interactive, history, data.ClassNames, total.Elapsed);
        if (s.Curves is not null) console.MarkupLine($"curves: [link]{Markup.Escape(Path.GetFullPath(s.Curves))}[/]");
        if (s.Out is not null)
        {
            var meta = new Dictionary<string, string>
            {
                ["format"] = "convengine-checkpoint-1",
                ["model"] = spec.Name,
                ["data"] = data.Name,
                ["num_classes"] = data.ClassNames.Count.ToString(CultureInfo.InvariantCulture),
                ["class_names"] = JsonSerializer.Serialize(data.ClassNames),
                ["input_channels"] = channels.ToString(CultureInfo.InvariantCulture),
                ["input_size"] = size.ToString(CultureInfo.InvariantCulture),
                ["normalize_mean"] = data.Mean.ToString("R", CultureInfo.InvariantCulture),
                ["normalize_std"] = data.Std.ToString("R", CultureInfo.InvariantCulture),
                ["epochs"] = history.Count.ToString(CultureInfo.InvariantCulture),
                ["test_accuracy"] = (last.Test?.Accuracy ?? double.NaN).ToString("R", CultureInfo.InvariantCulture),
                ["test_loss"] = (last.Test?.Loss ?? double.NaN).ToString("R", CultureInfo.InvariantCulture),
                ["optimizer"] = s.Optimizer,
                ["lr"] = s.EffectiveLearningRate.ToString("R", CultureInfo.InvariantCulture),
                ["schedule"] = s.Schedule,
                ["batch_size"] = s.BatchSize.ToString(CultureInfo.InvariantCulture),
                ["seed"] = s.Seed.ToString(CultureInfo.InvariantCulture),
            };
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(s.Out))!);
            Checkpoint.Save(s.Out, net, optimizer.StateDict(), meta);
            console.MarkupLine($"checkpoint: [link]{Markup.Escape(Path.GetFullPath(s.Out))}[/]");
        }
        return cancelled ? CliApp.ExitCancelled : CliApp.ExitOk;
    }

    internal static string EpochLine(EpochResult e, int epochs)
    {
        var inv = CultureInfo.InvariantCulture;
        string test = e.Test is null ? "" : string.Create(inv, $" | test loss {e.Test.Loss:0.0000} acc [bold]{100 * e.Test.Accuracy:0.00}%[/]");
        return string.Create(inv, $"epoch {e.Epoch}/{epochs}: train loss {e.TrainLoss:0.0000} acc {100 * e.TrainAccuracy:0.00}%{test} | lr {FormatLr(e.LearningRate)} | {e.Seconds:0.0} s, {e.TrainSamplesPerSecond:N0} img/s");
    }

    private static void PrintSummary(IAnsiConsole console, bool interactive, TrainingHistory history, IReadOnlyList<string> classNames, TimeSpan total)
    {
        var inv = CultureInfo.InvariantCulture;
        var last = history.Last!;
        var table = new Table().Border(interactive ? TableBorder.Rounded : TableBorder.Ascii).Title("Training summary")
            .AddColumn("Metric").AddColumn(new TableColumn("Value").RightAligned());
        if (last.Test is { } t)
        {
            table.AddRow("[bold]test accuracy[/]", $"[bold]{(100 * t.Accuracy).ToString("0.00", inv)}%[/]");
            table.AddRow("test loss", t.Loss.ToString("0.0000", inv));
            if (history.BestByTestAccuracy is { } best && best.Epoch != last.Epoch)
                table.AddRow("best test accuracy", $"{(100 * best.Test!.Accuracy).ToString("0.00", inv)}% (epoch {best.Epoch})");
        }
        table.AddRow("train accuracy (last epoch)", $"{(100 * last.TrainAccuracy).ToString("0.00", inv)}%");
        table.AddRow("epochs", $"{history.Count}" + (history.StopReason == StopReason.EarlyStopped ? " (early stop)" : ""));
        table.AddRow("time per epoch", $"{history.Average(e => e.Seconds).ToString("0.0", inv)} s");
        table.AddRow("training images / s", history.Average(e => e.TrainSamplesPerSecond).ToString("N0", inv));
        table.AddRow("total time", $"{total.TotalSeconds.ToString("0.0", inv)} s");
        console.Write(table);

        if (last.Test is { } r)
        {
            var perClass = new Table().Border(interactive ? TableBorder.Rounded : TableBorder.Ascii).Title("Per-class test accuracy")
                .AddColumn("Class").AddColumn(new TableColumn("Accuracy").RightAligned()).AddColumn(new TableColumn("Samples").RightAligned()).AddColumn("Most confused with");
            for (int c = 0; c < r.NumClasses; c++)
            {
                int samples = 0, worst = -1;
                for (int j = 0; j < r.NumClasses; j++)
                {
                    samples += r.ConfusionMatrix[c, j];
                    if (j != c && r.ConfusionMatrix[c, j] > 0 && (worst < 0 || r.ConfusionMatrix[c, j] > r.ConfusionMatrix[c, worst])) worst = j;
                }
                string name = c < classNames.Count ? classNames[c] : c.ToString(inv);
                string acc = double.IsNaN(r.PerClassAccuracy[c]) ? "-" : (100 * r.PerClassAccuracy[c]).ToString("0.0", inv) + "%";
                string confused = worst < 0 ? "" : $"{(worst < classNames.Count ? classNames[worst] : worst.ToString(inv))} ({r.ConfusionMatrix[c, worst]})";
                perClass.AddRow(Markup.Escape(name), acc, samples.ToString(inv), Markup.Escape(confused));
            }
            console.Write(perClass);
        }
    }

    /// <summary>Delivers reports synchronously on the training thread (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    /// <summary>Plain lines for logs and pipes: one line at every 20 % of an epoch.</summary>
    private sealed class PlainProgress(TextWriter output) : IProgress<TrainingProgress>
    {
        private int _lastStep = -1, _lastEpoch;

        public void Report(TrainingProgress p)
        {
            if (p.Epoch != _lastEpoch) { _lastEpoch = p.Epoch; _lastStep = 0; }
            if (p.BatchesPerEpoch <= 0) return;
            int step = 5 * p.Batch / p.BatchesPerEpoch;   // 0..5
            if (step <= _lastStep || step == 5) return;   // the epoch line reports the end
            _lastStep = step;
            var inv = CultureInfo.InvariantCulture;
            output.WriteLine(string.Create(inv,
                $"  epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.BatchesPerEpoch}: loss {p.RunningLoss:0.0000} acc {100 * p.RunningAccuracy:0.00}% {p.SamplesPerSecond:N0} img/s, eta {FormatEta(p.Eta)}"));
            output.Flush();
        }
    }

    internal static string FormatLr(double lr) =>
        lr != 0 && Math.Abs(lr) < 1e-3 ? lr.ToString("0.0#e+0", CultureInfo.InvariantCulture) : lr.ToString("0.#####", CultureInfo.InvariantCulture);

    internal static string FormatEta(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
}
